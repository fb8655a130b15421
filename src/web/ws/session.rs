//! One WebSocket connection: a `select!` loop over incoming frames, committed sends (acked in
//! the order they were sent), the hub's bounded outbound queue, the heartbeat and the kick
//! signal. Replay, gap fill and duplicate suppression are the shared delivery cursor's
//! (`delivery::cursor`): `subscribe` with `after_seq` replays what the client missed, then the
//! conversation is live.
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use actix_web::web::Bytes;
use actix_ws::{AggregatedMessage, CloseCode, Message as WsMessage};
use futures_util::{StreamExt, stream::FuturesOrdered};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::{
    accounts,
    actor::Actor,
    context::AppContext,
    conversations,
    delivery::{
        cursor::{Cursor, Live, Replayed, Sink},
        send,
    },
    error::AppError,
    messages::{Message, SendCommand, Sent},
    realtime::{
        HubHandle,
        hub::{CloseReason, Conn, ConnKind, Outbound},
        protocol::{self, ClientFrame, PresenceStatus, ServerFrame, close},
        transport::{RecvError, WsConn},
    },
};

/// Sends may be in flight per socket before the socket stops reading new frames.
const MAX_IN_FLIGHT: usize = 256;
/// Invalid frames tolerated before the socket is closed as abusive.
const MAX_BAD_FRAMES: u32 = 20;
/// A socket whose client does not take a frame within this time is closed.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Queued output is written at once past this size, even if more is coming.
const CORK_LIMIT: usize = 16 * 1024;
/// How long closing a socket may take (close frame out, the peer's close frame back).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends `Leave` to the hub when the session task ends, however it ends.
pub(crate) struct LeaveGuard {
    pub(crate) hub: HubHandle,
    pub(crate) id: u64,
}

impl Drop for LeaveGuard {
    fn drop(&mut self) {
        self.hub.leave_now(self.id);
    }
}

type AckFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = (String, Result<Sent, AppError>)>>>;

enum End {
    Close(CloseReason),
    /// The transport is gone; nothing more can be sent.
    Gone,
}

/// The socket and the kick signal: what writing to the client needs.
struct Wire {
    ws: WsConn,
    kick: oneshot::Receiver<CloseReason>,
}

struct State {
    ctx: AppContext,
    actor: Actor,
    conn_id: u64,
    wire: Wire,
    cursor: Cursor,
    /// Conversations not subscribed to this agent was found to may type in.
    typing_allowed: HashSet<Uuid>,
    /// End of the agent's login session: the socket closes then (checked every heartbeat).
    session_expires: Option<chrono::DateTime<chrono::Utc>>,
    bad_frames: u32,
    last_seen: Instant,
}

/// Serves one socket until it closes (awaited by the connection's own task).
pub async fn run(ctx: AppContext, actor: Actor, mut ws: WsConn) {
    let (tx, rx) = mpsc::channel(ctx.settings.ws_outbound_queue);
    let (kick_tx, kick_rx) = oneshot::channel();
    let conn_id = ctx.hub.next_conn_id();
    let kind = match actor {
        Actor::Agent(a) => ConnKind::Agent {
            agent_id: a.agent_id,
            account_id: a.account_id,
        },
        Actor::Customer(c) => ConnKind::Customer {
            account_id: c.account_id,
            conversation_id: c.conversation_id,
            contact_id: c.contact_id,
        },
        Actor::Bot { .. } => return,
    };
    let session_id = match actor {
        Actor::Agent(a) => a.session_id,
        _ => None,
    };
    let conn = Conn {
        id: conn_id,
        kind,
        session: session_id,
        // A customer's socket takes messages once it subscribes (`State::subscribe`).
        subscribed: false,
        verified: match actor {
            Actor::Customer(c) => c.verified_in(),
            _ => None,
        },
        tx,
        kick: kick_tx,
    };
    let Some(presence) = ctx.hub.join(conn).await else {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(CloseCode::Away.into()))).await;
        return;
    };
    // Whatever way this task ends (even cancelled), the hub forgets the connection.
    let _leave = LeaveGuard {
        hub: ctx.hub.clone(),
        id: conn_id,
    };
    // A logout between the token check and `join` found no socket to close: check again now
    // that the socket is registered (a later logout reaches it through the hub).
    if let Some(sid) = session_id
        && !matches!(
            Box::pin(accounts::service::session_is_open(&ctx, sid)).await,
            Ok(true)
        )
    {
        let reason = actix_ws::CloseReason {
            code: CloseCode::from(close::REVOKED),
            description: Some("session ended".into()),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(Some(reason))).await;
        return;
    }
    let mut st = State {
        ctx: ctx.clone(),
        actor,
        conn_id,
        wire: Wire { ws, kick: kick_rx },
        cursor: Cursor::default(),
        typing_allowed: HashSet::new(),
        session_expires: match actor {
            Actor::Agent(a) => a.session_expires,
            _ => None,
        },
        bad_frames: 0,
        last_seen: Instant::now(),
    };
    let hello = ServerFrame::Hello {
        protocol: protocol::PROTOCOL_VERSION,
        role: if actor.is_customer() {
            "customer"
        } else {
            "agent"
        },
        conversation_id: match actor {
            Actor::Customer(c) => Some(c.conversation_id),
            _ => None,
        },
        heartbeat_ms: ctx.settings.ws_heartbeat().as_millis() as u64,
        max_frame_bytes: ctx.settings.max_frame_bytes,
        presence: (!actor.is_customer()).then_some(presence.as_slice()),
    };
    let sent = match st.wire.send(hello.to_text()).await {
        Ok(()) => st.wire.flush().await,
        Err(e) => Err(e),
    };
    let end = match sent {
        Ok(()) => st.main_loop(rx).await,
        Err(e) => e,
    };
    if let End::Close(why) = end {
        let reason = actix_ws::CloseReason {
            code: CloseCode::from(why.code),
            description: Some(why.reason.to_string()),
        };
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, st.wire.ws.close(Some(reason))).await;
    }
}

impl Wire {
    /// Queues one text frame (written at the end of the step, or now if much is queued).
    async fn send(&mut self, text: impl Into<String>) -> Result<(), End> {
        let text: String = text.into();
        self.ws
            .queue(WsMessage::Text(text.into()))
            .map_err(|_| End::Gone)?;
        if self.ws.pending() >= CORK_LIMIT {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// Writes what is queued, giving up on a client that stopped reading or was kicked.
    async fn flush(&mut self) -> Result<(), End> {
        if self.ws.pending() == 0 {
            return Ok(());
        }
        tokio::select! {
            biased;
            why = &mut self.kick => Err(End::Close(why.unwrap_or(CloseReason { code: close::GOING_AWAY, reason: "server shutting down" }))),
            r = tokio::time::timeout(WRITE_TIMEOUT, self.ws.flush()) => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::Gone),
                Err(_) => Err(End::Close(CloseReason { code: close::SLOW_CONSUMER, reason: "slow consumer" })),
            },
        }
    }

    async fn ping(&mut self) -> Result<(), End> {
        self.ws
            .queue(WsMessage::Ping(Bytes::new()))
            .map_err(|_| End::Gone)?;
        self.flush().await
    }
}

impl Sink for Wire {
    type Stop = End;
    async fn message(&mut self, m: &Message) -> Result<(), End> {
        self.send(ServerFrame::Message(m).to_text()).await
    }
}

impl State {
    async fn main_loop(&mut self, mut rx: mpsc::Receiver<Outbound>) -> End {
        let heartbeat = self.ctx.settings.ws_heartbeat();
        let idle = self.ctx.settings.ws_idle_timeout();
        let mut tick = tokio::time::interval(heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut acks: FuturesOrdered<AckFuture> = FuturesOrdered::new();
        loop {
            // Frames are queued as they are made and written when nothing more is waiting to go
            // out (or `CORK_LIMIT` is queued): a burst of events is one write, not one each.
            if ((!self.cursor.has_backlog() && rx.is_empty())
                || self.wire.ws.pending() >= CORK_LIMIT)
                && let Err(end) = self.wire.flush().await
            {
                return end;
            }
            // Unbiased: a client that writes a lot must still drain its own outbound queue.
            let step = tokio::select! {
                why = &mut self.wire.kick => Err(End::Close(why.unwrap_or(CloseReason { code: close::GOING_AWAY, reason: "server shutting down" }))),
                Some((ref_id, res)) = acks.next(), if !acks.is_empty() => self.on_ack(&ref_id, res).await,
                frame = self.wire.ws.recv(), if acks.len() < MAX_IN_FLIGHT => match frame {
                    None => Err(End::Gone),
                    // Boxed (≈ 1.2 KiB, freed after each frame) rather than part of every idle task.
                    Some(Ok(msg)) => Box::pin(self.on_frame(msg, &mut acks, &mut rx)).await,
                    Some(Err(e)) => Err(End::Close(protocol_error(&e))),
                },
                // Events set aside during a replay come first, in their original order.
                out = self.cursor.next(&mut rx) => match out {
                    Some(out) => self.on_outbound(out).await,
                    // The hub dropped us; it sent the reason on the kick channel first.
                    None => Err(End::Close(self.wire.kick.try_recv().unwrap_or(CloseReason { code: close::GOING_AWAY, reason: "removed" }))),
                },
                _ = tick.tick() => {
                    if self.last_seen.elapsed() > idle {
                        Err(End::Close(CloseReason { code: close::IDLE_TIMEOUT, reason: "idle timeout" }))
                    } else if self.session_expires.is_some_and(|t| chrono::Utc::now() >= t) {
                        Err(End::Close(CloseReason { code: close::REVOKED, reason: "session expired" }))
                    } else {
                        self.wire.ping().await
                    }
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn send(&mut self, text: impl Into<String>) -> Result<(), End> {
        self.wire.send(text).await
    }

    async fn error(&mut self, e: &AppError, reference: Option<&str>) -> Result<(), End> {
        e.log();
        let msg = e.to_string();
        let frame = ServerFrame::Error {
            code: e.code(),
            message: &msg,
            reference,
            retryable: e.retryable(),
            retry_after: e.retry_after(),
        };
        self.send(frame.to_text()).await
    }
    async fn on_frame(
        &mut self,
        msg: AggregatedMessage,
        acks: &mut FuturesOrdered<AckFuture>,
        rx: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), End> {
        self.last_seen = Instant::now();
        let text = match msg {
            AggregatedMessage::Text(t) => t,
            AggregatedMessage::Binary(_) => {
                return Err(End::Close(CloseReason {
                    code: close::UNSUPPORTED_DATA,
                    reason: "binary frames are not supported",
                }));
            }
            AggregatedMessage::Ping(p) => {
                return self
                    .wire
                    .ws
                    .queue(WsMessage::Pong(p))
                    .map_err(|_| End::Gone);
            }
            AggregatedMessage::Pong(_) => return Ok(()),
            AggregatedMessage::Close(_) => {
                return Err(End::Close(CloseReason {
                    code: close::NORMAL,
                    reason: "bye",
                }));
            }
        };
        let frame = match protocol::decode(&text) {
            Ok(f) => f,
            Err(e) => {
                self.bad_frames += 1;
                if self.bad_frames > MAX_BAD_FRAMES {
                    return Err(End::Close(CloseReason {
                        code: close::POLICY,
                        reason: "too many invalid frames",
                    }));
                }
                let msg = e.message();
                let f = ServerFrame::Error {
                    code: e.code(),
                    message: &msg,
                    reference: e.reference(),
                    retryable: false,
                    retry_after: None,
                };
                return self.send(f.to_text()).await;
            }
        };
        match frame {
            ClientFrame::Ping { nonce } => self.send(ServerFrame::Pong { nonce }.to_text()).await,
            ClientFrame::Send {
                conversation_id,
                client_msg_id,
                body,
                private,
            } => {
                let conversation_id = self.conversation(conversation_id);
                let cmd = SendCommand {
                    conversation_id,
                    client_msg_id: client_msg_id.clone(),
                    body,
                    private,
                };
                match send::submit(&self.ctx, self.actor, cmd).await {
                    Ok(pending) => {
                        acks.push_back(Box::pin(async move {
                            (client_msg_id, send::settle(pending).await)
                        }));
                        Ok(())
                    }
                    Err(e) => self.error(&e, Some(&client_msg_id)).await,
                }
            }
            ClientFrame::Subscribe {
                conversation_id,
                after_seq,
            } => {
                let conversation_id = self.conversation(conversation_id);
                // Boxed, as are the other database reads of a session (mark_read, fill_gap,
                // session_is_open): every socket's task would otherwise carry room for the
                // largest of these futures (≈ 5 KiB) for its whole life, idle or not.
                Box::pin(self.subscribe(conversation_id, after_seq, rx)).await
            }
            ClientFrame::Unsubscribe { conversation_id } => {
                self.cursor.unsubscribe(conversation_id);
                if self.actor.is_customer() {
                    self.ctx
                        .hub
                        .subscribe(self.conn_id, conversation_id, false)
                        .await;
                }
                Ok(())
            }
            ClientFrame::Typing {
                conversation_id,
                typing,
                private,
            } => {
                let conversation_id = self.conversation(conversation_id);
                if !Box::pin(self.may_type_in(conversation_id)).await {
                    return self.error(&AppError::NotFound("conversation"), None).await;
                }
                // Repeats and fast toggling are dropped (one place for every transport): one
                // client cannot flood every agent socket of the account.
                if self
                    .ctx
                    .limits
                    .typing(self.actor.sender_id(), conversation_id, typing)
                {
                    // Typing a private note is shown to the other agents only.
                    let private = private && !self.actor.is_customer();
                    self.ctx
                        .hub
                        .typing(self.conn_id, conversation_id, typing, private)
                        .await;
                }
                Ok(())
            }
            ClientFrame::Read {
                conversation_id,
                seq,
            } => {
                let conversation_id = self.conversation(conversation_id);
                match Box::pin(conversations::service::mark_read(
                    &self.ctx.db,
                    &self.ctx.events,
                    &self.actor,
                    conversation_id,
                    seq,
                ))
                .await
                {
                    Ok(_) => Ok(()),
                    Err(e) => self.error(&e, None).await,
                }
            }
            ClientFrame::Presence { status } => {
                if self.actor.is_customer() || status == PresenceStatus::Offline {
                    self.error(&AppError::Forbidden("agents may set online or away"), None)
                        .await
                } else {
                    self.ctx.hub.presence(self.conn_id, status).await;
                    Ok(())
                }
            }
        }
    }

    /// A customer's frames may omit the conversation: theirs is implied.
    fn conversation(&self, given: Option<Uuid>) -> Uuid {
        match (given, self.actor) {
            (Some(c), _) => c,
            (None, Actor::Customer(c)) => c.conversation_id,
            (None, _) => Uuid::nil(),
        }
    }

    /// Whether this socket may send typing for `conversation_id`, the same answer `send` and
    /// `subscribe` give: customers only their own conversation, agents their account's (known
    /// once subscribed, else looked up once and remembered).
    async fn may_type_in(&mut self, conversation_id: Uuid) -> bool {
        match self.actor {
            Actor::Customer(c) => c.conversation_id == conversation_id,
            _ if self.cursor.is_subscribed(conversation_id)
                || self.typing_allowed.contains(&conversation_id) =>
            {
                true
            }
            _ => {
                let found =
                    conversations::service::get_for(&self.ctx.db, &self.actor, conversation_id)
                        .await
                        .is_ok();
                if found {
                    if self.typing_allowed.len() >= 256 {
                        self.typing_allowed.clear();
                    }
                    self.typing_allowed.insert(conversation_id);
                }
                found
            }
        }
    }

    async fn on_ack(
        &mut self,
        client_msg_id: &str,
        res: Result<Sent, AppError>,
    ) -> Result<(), End> {
        match res {
            Ok(sent) => {
                let m = &sent.message;
                let frame = ServerFrame::Ack {
                    client_msg_id,
                    conversation_id: m.conversation_id,
                    id: m.id,
                    seq: m.seq,
                    duplicate: sent.duplicate,
                };
                self.send(frame.to_text()).await
            }
            Err(e) => self.error(&e, Some(client_msg_id)).await,
        }
    }

    async fn on_outbound(&mut self, out: Outbound) -> Result<(), End> {
        match out {
            Outbound::Frame(f) => self.send(f.to_string()).await,
            Outbound::Message(m) => {
                // Boxed: the gap fill reads the database, and its future would otherwise be
                // part of every idle socket's task.
                let live = Box::pin(self.cursor.live(
                    &self.ctx,
                    &self.actor,
                    m.conversation_id,
                    m.seq,
                    &mut self.wire,
                ))
                .await?;
                match live {
                    Live::Deliver => self.send(m.frame.to_string()).await,
                    Live::Skip => Ok(()),
                    Live::Resync { last_seq } => {
                        let f = ServerFrame::Resync {
                            conversation_id: m.conversation_id,
                            last_seq,
                            reason: "temporarily unavailable; subscribe again",
                        };
                        self.send(f.to_text()).await
                    }
                }
            }
            // `Cursor::next` takes batches apart.
            Outbound::Batch(items) => {
                for item in items.into_vec() {
                    Box::pin(self.on_outbound(item)).await?;
                }
                Ok(())
            }
        }
    }

    /// Replays everything after `after_seq` in pages, then marks the conversation live.
    async fn subscribe(
        &mut self,
        conversation_id: Uuid,
        after_seq: i64,
        rx: &mut mpsc::Receiver<Outbound>,
    ) -> Result<(), End> {
        if after_seq < 0 {
            return self
                .error(
                    &AppError::Invalid("after_seq must be 0 or more".into()),
                    None,
                )
                .await;
        }
        // Live messages queue up from here on, while the replay reads the database.
        if self.actor.is_customer() {
            self.ctx
                .hub
                .subscribe(self.conn_id, conversation_id, true)
                .await;
        }
        let replayed = self
            .cursor
            .replay(
                &self.ctx,
                &self.actor,
                conversation_id,
                after_seq,
                &mut self.wire,
                rx,
            )
            .await?;
        match replayed {
            Replayed::Done { last_seq } => {
                let f = ServerFrame::ReplayDone {
                    conversation_id,
                    last_seq,
                };
                self.send(f.to_text()).await
            }
            Replayed::Beyond { last_seq } => {
                let f = ServerFrame::Resync {
                    conversation_id,
                    last_seq,
                    reason: "after_seq is beyond this conversation",
                };
                self.send(f.to_text()).await
            }
            Replayed::Failed(e) => self.error(&e, None).await,
            Replayed::TooFarBehind => Err(End::Close(CloseReason {
                code: close::SLOW_CONSUMER,
                reason: "too far behind; resubscribe",
            })),
        }
    }
}

fn protocol_error(e: &RecvError) -> CloseReason {
    match e {
        RecvError::Protocol(actix_ws::ProtocolError::Overflow) => CloseReason {
            code: close::TOO_BIG,
            reason: "frame too large",
        },
        RecvError::MessageTooLarge => CloseReason {
            code: close::TOO_BIG,
            reason: "message too large",
        },
        RecvError::NotUtf8 => CloseReason {
            code: close::INVALID_DATA,
            reason: "text frame is not UTF-8",
        },
        RecvError::Protocol(_) => CloseReason {
            code: close::POLICY,
            reason: "protocol error",
        },
    }
}
