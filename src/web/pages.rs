//! Server-rendered pages (askama). For now the landing page; the dashboard grows here.
use actix_web::{HttpRequest, web};
use askama::Template;
use askama_web::WebTemplate;

use crate::{accounts, context::AppContext, error::AppResult};

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct Index {
    version: &'static str,
    base: String,
    agents: u64,
}

pub async fn index(ctx: web::Data<AppContext>, req: HttpRequest) -> AppResult<Index> {
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    Ok(Index {
        version: env!("CARGO_PKG_VERSION"),
        base,
        agents: accounts::service::count_agents(&ctx.db).await?,
    })
}
