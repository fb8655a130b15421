//! Static front-end files (`static/`), built into the binary so one file is the whole product.
//! With the `static_dir` setting they are read from that directory on every request instead
//! (front-end work without rebuilding). Served with an ETag (304 on revalidation), `nosniff`,
//! and gzip when the client accepts it (the `Compress` middleware on these routes).
//!
//! The dashboard (`static/dashboard/`, native ES modules, and `dashboard.css`) is loaded from
//! `/static/<hash>/…`, where `<hash>` fingerprints every built-in file: a new build has a new
//! prefix, so those responses are cached as immutable and a browser never mixes old and new
//! modules (relative `import`s resolve under the same prefix). A request under any other prefix
//! (an older page during a rolling deploy) gets today's file, uncached. Plain `/static/<name>`
//! (the widget, the login page's stylesheet) keeps a short cache lifetime.
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

/// Every served file. `static/dashboard/*.js` must all be listed (a unit test checks).
static ASSETS: &[Asset] = &[
    asset!("dashboard.css", CSS),
    asset!("dashboard/app.js", JS),
    asset!("dashboard/api.js", JS),
    asset!("dashboard/live.js", JS),
    asset!("dashboard/notify.js", JS),
    asset!("dashboard/outbox.js", JS),
    asset!("dashboard/presence.js", JS),
    asset!("dashboard/query.js", JS),
    asset!("dashboard/router.js", JS),
    asset!("dashboard/sending.js", JS),
    asset!("dashboard/shadow.js", JS),
    asset!("dashboard/socket.js", JS),
    asset!("dashboard/state.js", JS),
    asset!("dashboard/store.js", JS),
    asset!("dashboard/util.js", JS),
    asset!("dashboard/views/admin/admin.js", JS),
    asset!("dashboard/views/admin/agents.js", JS),
    asset!("dashboard/views/admin/canned.js", JS),
    asset!("dashboard/views/admin/inboxes.js", JS),
    asset!("dashboard/views/admin/kb.js", JS),
    asset!("dashboard/views/assist.js", JS),
    asset!("dashboard/views/composer.js", JS),
    asset!("dashboard/views/conv-pane.js", JS),
    asset!("dashboard/views/conversation.js", JS),
    asset!("dashboard/views/list.js", JS),
    asset!("dashboard/views/messages.js", JS),
    asset!("dashboard/views/search.js", JS),
    asset!("dashboard/views/shadow.js", JS),
    asset!("widget.js", JS),
    asset!("widget-chat.js", JS),
];

/// The built-in copy of a static file (for size measurements and tests).
pub fn builtin(name: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|a| a.name == name).map(|a| a.bytes)
}

/// Every built-in file name (paths under `static/`).
pub fn names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|a| a.name)
}

/// FNV-1a: a content fingerprint, not a security measure.
fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn etag(bytes: &[u8]) -> String {
    format!("\"{:016x}\"", fnv(FNV_START, bytes))
}

/// The bytes served for `asset`: from `static_dir` when set (and the file is there).
fn contents(ctx: &AppContext, asset: &Asset) -> std::borrow::Cow<'static, [u8]> {
    if !ctx.settings.static_dir.is_empty() {
        let path = std::path::Path::new(&ctx.settings.static_dir).join(asset.name);
        if let Ok(bytes) = std::fs::read(path) {
            return bytes.into();
        }
    }
    asset.bytes.into()
}

fn bundle_hash(files: impl Iterator<Item = (&'static str, Vec<u8>)>) -> String {
    let h = files.fold(FNV_START, |h, (name, bytes)| {
        let h = fnv(h, name.as_bytes());
        let h = fnv(h, &(bytes.len() as u64).to_le_bytes());
        fnv(h, &bytes)
    });
    format!("{:012x}", h >> 16)
}

/// The fingerprint of every served file: the `<hash>` in `/static/<hash>/…`. Computed once for
/// the built-in files; with `static_dir` set it is recomputed from the disk on each call, so an
/// edited file gets a new prefix at the next page load.
pub fn hash(ctx: &AppContext) -> String {
    static BUILTIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if ctx.settings.static_dir.is_empty() {
        return BUILTIN
            .get_or_init(|| bundle_hash(ASSETS.iter().map(|a| (a.name, a.bytes.to_vec()))))
            .clone();
    }
    bundle_hash(
        ASSETS
            .iter()
            .map(|a| (a.name, contents(ctx, a).into_owned())),
    )
}

/// How long a response may be cached.
#[derive(Clone, Copy)]
enum Caching {
    /// Plain `/static/<name>`: revalidate after five minutes.
    Short,
    /// Under the current `/static/<hash>/`: the content can never change.
    Immutable,
    /// Under another prefix: today's file, but nobody may keep it under that name.
    NoStore,
}

fn serve(ctx: &AppContext, req: &HttpRequest, name: &str, caching: Caching) -> HttpResponse {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return HttpResponse::NotFound().finish();
    };
    let bytes = contents(ctx, asset);
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
    let cache = match caching {
        Caching::Short => "public, max-age=300",
        Caching::Immutable => "public, max-age=31536000, immutable",
        Caching::NoStore => "no-store",
    };
    resp.insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Loaded by other websites' pages (the widget); public files, no credentials.
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::CROSS_ORIGIN_RESOURCE_POLICY, "cross-origin"))
        .content_type(asset.content_type);
    if fresh {
        resp.finish()
    } else {
        resp.body(bytes.into_owned())
    }
}

pub async fn file(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    serve(&ctx, &req, &name, Caching::Short)
}

/// `/static/{hash}/{path}`: the dashboard's files under the bundle fingerprint.
pub async fn hashed(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (prefix, name) = path.into_inner();
    let caching = if prefix == hash(&ctx) {
        Caching::Immutable
    } else {
        Caching::NoStore
    };
    serve(&ctx, &req, &name, caching)
}

/// `/widget.js` and `/widget-chat.js` at the root: the install snippet stays short.
pub async fn widget_loader(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    serve(&ctx, &req, "widget.js", Caching::Short)
}

pub async fn widget_chat(ctx: web::Data<AppContext>, req: HttpRequest) -> HttpResponse {
    serve(&ctx, &req, "widget-chat.js", Caching::Short)
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

    /// Every module of the dashboard is served (a file missing from the list would 404).
    #[test]
    fn every_dashboard_module_is_listed() {
        fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).expect("static/dashboard") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    if p.file_name().is_some_and(|n| n != "test") {
                        walk(&p, out);
                    }
                } else if p.extension().is_some_and(|x| x == "js") {
                    out.push(p.to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        let mut files = Vec::new();
        walk(&root.join("dashboard"), &mut files);
        assert!(!files.is_empty());
        for f in files {
            let name = f.split("/static/").last().unwrap_or_default().to_string();
            assert!(super::builtin(&name).is_some(), "{name} is not in ASSETS");
        }
    }
}
