//! Static front-end files (`static/`), built into the binary so one file is the whole product.
//! With the `static_dir` setting they are read from that directory on every request instead
//! (front-end work without rebuilding). Served with an ETag (304 on revalidation), a short
//! cache lifetime, `nosniff`, and gzip when the client accepts it (the `Compress` middleware
//! on these routes).
use actix_web::{HttpRequest, HttpResponse, http::header, web};

use crate::context::AppContext;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

static ASSETS: &[Asset] = &[
    asset!("dashboard.js", JS),
    asset!("dashboard.css", CSS),
    asset!("widget.js", JS),
    asset!("widget-chat.js", JS),
];

/// The built-in copy of a static file (for size measurements and tests).
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|a| a.name == name).map(|a| a.bytes)
}

/// Every built-in file name.
pub fn names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

fn etag(bytes: &[u8]) -> String {
    // FNV-1a: a content fingerprint, not a security measure.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}\"")
}

fn serve(ctx: &AppContext, req: &HttpRequest, name: &str) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return HttpResponse::NotFound().finish();
    };
    let from_disk = (!ctx.settings.static_dir.is_empty())
        .then(|| {
            std::fs::read(std::path::Path::new(&ctx.settings.static_dir).join(asset.name)).ok()
        })
        .flatten();
    let bytes: Vec<u8> = from_disk.unwrap_or_else(|| asset.bytes.to_vec());
    let tag = etag(&bytes);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut resp = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Loaded by other websites' pages (the widget); public files, no credentials.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CROSS_ORIGIN_RESOURCE_POLICY, "cross-origin"))
        .content_type(asset.content_type);
    if fresh {
        resp.finish()
    } else {
        resp.body(bytes)
    }
}

pub async fn file(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    serve(&ctx, &req, &name)
}

/// `/widget.js` and `/widget-chat.js` at the root: the install snippet stays short.
pub async fn widget_loader(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    serve(&ctx, &req, "widget.js")
}

pub async fn widget_chat(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    serve(&ctx, &req, "widget-chat.js")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_is_built_in_and_typed() {
        for name in super::names() {
            assert!(
                !super::builtin(name).unwrap_or_default().is_empty(),
                "{name} is empty"
            );
        }
    }
}
