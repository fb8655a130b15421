//! Public widget endpoints (called cross-origin from customers' websites): configuration,
//! session, status, typing, contact details, page visits, and the Server-Sent Events stream
//! that replaces the WebSocket when a proxy blocks it. Each is rate-limited per client IP and
//! checks the inbox's allowed origins (the visitor-token ones through `CurrentVisitor`).
//!
//! SSE stream: `hello`, the messages after `after_seq` (or the `Last-Event-ID` the browser
//! sends when it reconnects), `replay_done`, then live frames — the same JSON as WebSocket
//! frames. Message events carry `id: <seq>`; a gap in live seqs is filled from the database,
//! so the client sees each seq once, in order, across reconnects.
use std::{convert::Infallible, time::Duration};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, http::header, web};

use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{
    extract::{CurrentVisitor, VisitorRequest, origin},
    limits::client_ip,
};
use crate::{
    auth::VisitorClaims,
    context::AppContext,
    conversations::visitor::{self, ContactInput, PageInput, VisitorSessionRequest},
    error::{AppError, AppResult},
    inboxes::{self, settings::PublicInbox},
    messages::{self, Message},
    realtime::{
        hub::{Conn, ConnKind, Outbound},
        protocol::{self, ServerFrame},
        session::LeaveGuard,
    },
};

type Ctx = web::Data<AppContext>;

fn limit(ctx: &AppContext, req: &HttpRequest) -> AppResult<()> {
    ctx.limits.widget(client_ip(req, &ctx.limits.proxies))
}

#[derive(Deserialize)]
pub struct ConfigQuery {
    inbox: String,
}

pub async fn config(
    ctx: Ctx,
    req: HttpRequest,
    q: web::Query<ConfigQuery>,
) -> AppResult<HttpResponse> {
    limit(&ctx, &req)?;
    let inbox = inboxes::find_by_token(&ctx.db, &q.inbox)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    if !inboxes::origin_allowed(&inbox, origin(&req).as_deref()) {
        return Err(AppError::Forbidden("this website may not use this inbox"));
    }
    let avail = inboxes::settings::availability(&ctx, &inbox).await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "inbox": PublicInbox::from(&inbox),
            "available": avail.available,
            "agents_online": avail.agents_online,
            "open_now": avail.open_now,
            "next_open_at": avail.next_open_at,
            "identity_required": inbox.identity_required,
        })))
}

pub async fn session(
    ctx: Ctx,
    req: HttpRequest,
    body: web::Json<VisitorSessionRequest>,
) -> AppResult<HttpResponse> {
    ctx.limits
        .widget_session(client_ip(&req, &ctx.limits.proxies))?;
    let s = visitor::open_session(&ctx, body.into_inner(), origin(&req).as_deref()).await?;
    Ok(HttpResponse::Ok().json(s))
}

pub async fn status(ctx: Ctx, v: CurrentVisitor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visitor::status(&ctx, &v.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    typing: bool,
}

pub async fn typing(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<TypingBody>,
) -> AppResult<HttpResponse> {
    let c = v.0;
    // A throttled typing frame is dropped, not refused: it only ever updated an indicator.
    if ctx
        .limits
        .typing(c.contact_id, c.conversation_id, body.typing)
    {
        ctx.hub
            .customer_typing(c.account_id, c.conversation_id, c.contact_id, body.typing)
            .await;
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn contact(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<ContactInput>,
) -> AppResult<HttpResponse> {
    visitor::update_contact(&ctx, &v.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn page(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<PageInput>,
) -> AppResult<HttpResponse> {
    visitor::page_visit(&ctx, &v.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct EventsQuery {
    token: String,
    #[serde(default)]
    after_seq: i64,
}

const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    ctx: Ctx,
    req: HttpRequest,
    q: web::Query<EventsQuery>,
) -> AppResult<HttpResponse> {
    let claims = VisitorRequest::of(&req, &ctx).open(&ctx, &q.token).await?;
    // The browser's automatic reconnect says where it got to.
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = resume.unwrap_or(q.after_seq).max(0);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    actix_web::rt::spawn(stream_events(ctx.get_ref().clone(), claims, after, tx));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

fn event(id: Option<i64>, data: &str) -> Bytes {
    let mut s = String::with_capacity(data.len() + 24);
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    // Frames are single-line JSON; split anyway so a newline can never end the event early.
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

/// Feeds one SSE client until it goes away, is kicked, or the server stops.
async fn stream_events(ctx: AppContext, c: VisitorClaims, after: i64, out: mpsc::Sender<Bytes>) {
    let (tx, mut rx) = mpsc::channel(ctx.settings.ws_outbound_queue);
    let (kick_tx, mut kick) = oneshot::channel();
    let id = ctx.hub.next_conn_id();
    let conn = Conn {
        id,
        kind: ConnKind::Customer {
            account_id: c.account_id,
            conversation_id: c.conversation_id,
            contact_id: c.contact_id,
        },
        session: None,
        // The stream carries every public message of the conversation.
        subscribed: true,
        verified: c.verified_in(),
        tx,
        kick: kick_tx,
    };
    if ctx.hub.join(conn).await.is_none() {
        return;
    }
    let _leave = LeaveGuard {
        hub: ctx.hub.clone(),
        id,
    };
    let hello = ServerFrame::Hello {
        protocol: protocol::PROTOCOL_VERSION,
        role: "customer",
        conversation_id: Some(c.conversation_id),
        heartbeat_ms: SSE_KEEPALIVE.as_millis() as u64,
        max_frame_bytes: ctx.settings.max_frame_bytes,
        presence: None,
    };
    if out
        .send(Bytes::from_static(b"retry: 2000\n\n"))
        .await
        .is_err()
        || out.send(event(None, &hello.to_text())).await.is_err()
    {
        return;
    }
    // An offset beyond the conversation (a cache from another database): say so and replay
    // everything; the client drops what it had and dedupes by seq.
    let mut after = after;
    if after > 0 {
        let last = crate::conversations::service::get_for(
            &ctx,
            &crate::actor::Actor::Customer(c),
            c.conversation_id,
        )
        .await
        .map(|v| v.last_seq);
        match last {
            Ok(last) if after > last => {
                let f = ServerFrame::Resync {
                    conversation_id: c.conversation_id,
                    last_seq: last,
                    reason: "after_seq is beyond this conversation",
                };
                if out.send(event(None, &f.to_text())).await.is_err() {
                    return;
                }
                after = 0;
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
    // Replay (live events wait in the hub queue meanwhile), then live with gap filling.
    let Some(mut delivered) = send_range(&ctx, &c, after, None, &out).await else {
        return;
    };
    let done = ServerFrame::ReplayDone {
        conversation_id: c.conversation_id,
        last_seq: delivered,
    };
    if out.send(event(None, &done.to_text())).await.is_err() {
        return;
    }
    let mut keepalive = tokio::time::interval(SSE_KEEPALIVE);
    keepalive.tick().await;
    let mut pending = std::collections::VecDeque::new();
    loop {
        let sent = tokio::select! {
            _ = &mut kick => break,
            _ = out.closed() => break,
            _ = keepalive.tick() => out.send(Bytes::from_static(b": keepalive\n\n")).await.is_ok(),
            o = next_outbound(&mut rx, &mut pending) => match o {
                None => break,
                // Taken apart by `next_outbound`.
                Some(Outbound::Batch(_)) => true,
                Some(Outbound::Frame(f)) => out.send(event(None, &f)).await.is_ok(),
                Some(Outbound::Message(m)) => {
                    let (conversation_id, seq, frame) = (m.conversation_id, m.seq, &m.frame);
                    if conversation_id != c.conversation_id || seq <= delivered {
                        true
                    } else {
                        if seq > delivered + 1 {
                            match send_range(&ctx, &c, delivered, Some(seq), &out).await {
                                Some(_) => {}
                                None => break,
                            }
                        }
                        delivered = seq;
                        out.send(event(Some(seq), frame)).await.is_ok()
                    }
                }
            },
        };
        if !sent {
            break;
        }
    }
}

/// The next event from the hub, batches taken apart in order (cancel-safe: a batch is moved into
/// `pending` and its first item returned in the same poll).
async fn next_outbound(
    rx: &mut mpsc::Receiver<Outbound>,
    pending: &mut std::collections::VecDeque<Outbound>,
) -> Option<Outbound> {
    loop {
        if let Some(o) = pending.pop_front() {
            return Some(o);
        }
        match rx.recv().await? {
            Outbound::Batch(items) => pending.extend(items.into_vec()),
            o => return Some(o),
        }
    }
}

/// Sends stored public messages with `after < seq < upto` in pages; returns the last seq sent
/// (or `after`, or `upto - 1` for a gap), None when the client left or the database failed (the
/// stream then ends and the browser reconnects from its last id).
async fn send_range(
    ctx: &AppContext,
    c: &VisitorClaims,
    after: i64,
    upto: Option<i64>,
    out: &mpsc::Sender<Bytes>,
) -> Option<i64> {
    let mut cursor = after;
    loop {
        let page = ctx
            .settings
            .replay_page_size
            .clamp(1, messages::service::MAX_PAGE);
        let rows = match messages::repo::range(
            &ctx.db,
            c.conversation_id,
            cursor,
            upto,
            page,
            false,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "SSE replay failed");
                return None;
            }
        };
        let n = rows.len() as u64;
        for m in rows {
            let m = Message::from(m);
            out.send(event(Some(m.seq), &ServerFrame::Message(&m).to_text()))
                .await
                .ok()?;
            cursor = m.seq;
        }
        if n < page {
            return Some(upto.map_or(cursor, |u| (u - 1).max(cursor)));
        }
    }
}
