//! The widget's Server-Sent Events stream, for when a proxy blocks WebSockets (sends go over
//! HTTP): `hello`, the messages after `after_seq` (or the `Last-Event-ID` the browser sends when
//! it reconnects), `replay_done`, then live frames — the same JSON as WebSocket frames. Message
//! events carry `id: <seq>`. Replay and gap fill are the WebSocket session's
//! (`delivery::cursor`), so the client sees each seq once, in order, across reconnects.
use std::{convert::Infallible, time::Duration};

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{extract::VisitorRequest, ws::session::LeaveGuard};
use crate::{
    actor::Actor,
    auth::VisitorClaims,
    context::AppContext,
    delivery::cursor::{Cursor, Live, Replayed, Sink},
    error::AppResult,
    messages::Message,
    realtime::{
        hub::{Conn, ConnKind, Outbound},
        protocol::{self, ServerFrame},
    },
};

#[derive(Deserialize)]
pub struct EventsQuery {
    token: String,
    #[serde(default)]
    after_seq: i64,
}

const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

pub async fn events(
    ctx: web::Data<AppContext>,
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

/// The client's end of the stream; `Err(())` once it went away.
struct Client<'a>(&'a mpsc::Sender<Bytes>);

impl Client<'_> {
    async fn send(&mut self, id: Option<i64>, frame: &str) -> Result<(), ()> {
        self.0.send(event(id, frame)).await.map_err(|_| ())
    }
}

impl Sink for Client<'_> {
    type Stop = ();
    async fn message(&mut self, m: &Message) -> Result<(), ()> {
        self.send(Some(m.seq), &ServerFrame::Message(m).to_text())
            .await
    }
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
    let mut client = Client(&out);
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
        || client.send(None, &hello.to_text()).await.is_err()
    {
        return;
    }
    let actor = Actor::Customer(c);
    let mut cursor = Cursor::default();
    let mut after = after;
    // Replay (live events are set aside meanwhile), then live with gap filling.
    let last_seq = loop {
        let replayed = cursor
            .replay(&ctx, &actor, c.conversation_id, after, &mut client, &mut rx)
            .await;
        match replayed {
            Ok(Replayed::Done { last_seq }) => break last_seq,
            // An offset beyond the conversation (a cache from another database): say so and
            // replay everything; the client drops what it had and dedupes by seq.
            Ok(Replayed::Beyond { last_seq }) if after > 0 => {
                let f = ServerFrame::Resync {
                    conversation_id: c.conversation_id,
                    last_seq,
                    reason: "after_seq is beyond this conversation",
                };
                if client.send(None, &f.to_text()).await.is_err() {
                    return;
                }
                after = 0;
            }
            // The stream ends; the browser reconnects from its last id.
            _ => return,
        }
    };
    let done = ServerFrame::ReplayDone {
        conversation_id: c.conversation_id,
        last_seq,
    };
    if client.send(None, &done.to_text()).await.is_err() {
        return;
    }
    let mut keepalive = tokio::time::interval(SSE_KEEPALIVE);
    keepalive.tick().await;
    loop {
        let sent = tokio::select! {
            _ = &mut kick => break,
            _ = out.closed() => break,
            _ = keepalive.tick() => out.send(Bytes::from_static(b": keepalive\n\n")).await.is_ok(),
            o = cursor.next(&mut rx) => match o {
                None => break,
                Some(Outbound::Frame(f)) => client.send(None, &f).await.is_ok(),
                Some(Outbound::Message(m)) => {
                    match cursor.live(&ctx, &actor, m.conversation_id, m.seq, &mut client).await {
                        Ok(Live::Deliver) => client.send(Some(m.seq), &m.frame).await.is_ok(),
                        Ok(Live::Skip) => true,
                        // A gap that could not be read: end; the browser resumes from its id.
                        Ok(Live::Resync { .. }) | Err(()) => false,
                    }
                }
                // `Cursor::next` takes batches apart.
                Some(Outbound::Batch(_)) => true,
            },
        };
        if !sent {
            break;
        }
    }
}
