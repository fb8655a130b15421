//! `GET /api/v1/search?q=…&sort=relevance|date&page=1&per_page=20`: transcript search for agents
//! and admins (cookie or bearer), always within their own account. The response is plain JSON
//! text with highlight ranges, never HTML (see `docs/search.md`).
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::extract::CurrentAgent;
use crate::{
    context::AppContext,
    error::AppResult,
    search::{SearchOptions, Sort},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub sort: Sort,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    /// `false` to skip message snippets.
    pub snippets: Option<bool>,
}

pub async fn search(
    ctx: web::Data<AppContext>,
    who: CurrentAgent,
    params: web::Query<SearchParams>,
) -> AppResult<HttpResponse> {
    if !ctx.settings.has_role("indexer") {
        // Route /api/v1/search to the nodes with the `indexer` role (docs/deployment.md).
        return Err(crate::error::AppError::Unavailable(anyhow::anyhow!(
            "this node does not hold the search index (its roles lack `indexer`)"
        )));
    }
    let p = params.into_inner();
    let defaults = SearchOptions::default();
    let opts = SearchOptions {
        sort: p.sort,
        page: p.page.unwrap_or(defaults.page),
        per_page: p.per_page.unwrap_or(defaults.per_page),
        snippets: p.snippets.unwrap_or(true),
    };
    let res = ctx
        .search
        .search_async(Some(who.0.account_id), p.q, opts)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(res))
}
