//! The cluster bus: how nodes that share one database tell each other what just happened.
//! Three implementations, chosen by `bus_url`: none (a single node: in-process delivery only),
//! NATS core pub/sub (`nats://…`, the primary) and Redis pub/sub (`redis://…`). Every node
//! publishes compact [`Notice`]s after commit on one subject/channel per cluster
//! (`<bus_prefix>.notices`) and subscribes to it.
//!
//! The database decides; the bus only hurries things along. Publishing never blocks a writer:
//! notices go through a bounded queue with `try_send`, and while the bus is down they are dropped
//! and the loss is remembered. Afterwards the node broadcasts a [`Notice::Resync`] ("catch up from
//! the database since T"), and a node whose own subscription was interrupted catches up the same
//! way (see [`super::cluster`]). Sessions drop what they already have by seq and fill gaps from
//! the database, so a lost or repeated notice delays a delivery and never loses or duplicates one.
use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::protocol::PresenceStatus;
use crate::{actor::SenderType, events::DomainEvent};

/// Notices waiting to be published; beyond this they are dropped (and a resync announced).
const PUBLISH_QUEUE: usize = 16_384;
/// Longest wait for one publish before the bus is treated as down.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);
/// Notices sent to Redis in one pipeline, at most.
const REDIS_PIPELINE: usize = 256;
/// A node re-reads this much before the moment it lost the bus (clocks, commit order).
pub const CATCH_UP_MARGIN: chrono::Duration = chrono::Duration::seconds(3);

/// One notice on the wire: who sent it, and what.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    pub node: Uuid,
    #[serde(flatten)]
    pub notice: Notice,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Notice {
    /// A domain event committed on the sender (a message carries its whole body: receivers
    /// need no database read to deliver it).
    Event { event: DomainEvent },
    Typing {
        account_id: Uuid,
        conversation_id: Uuid,
        sender_type: SenderType,
        sender_id: Uuid,
        typing: bool,
        private: bool,
    },
    /// The sender's agents and their status on that node: all of them (`full`, sent
    /// periodically as the node's heartbeat) or the ones that just changed.
    Presence {
        full: bool,
        agents: Vec<(Uuid, Uuid, PresenceStatus)>,
    },
    /// Close an agent's sockets (deactivation) or one login session's (logout).
    Kick {
        agent_id: Option<Uuid>,
        session_id: Option<Uuid>,
    },
    /// Close the sockets of visitors verified in this inbox under another identity epoch (the
    /// inbox's identity secret was rotated).
    RevokeVisitors { inbox_id: Uuid, epoch: i32 },
    /// The sender could not publish everything since `since`: catch up from the database.
    Resync { since: DateTime<Utc> },
    /// The sender is draining: forget its agents now rather than at the heartbeat timeout.
    Leaving,
}

/// What the bus tells this node.
#[derive(Debug)]
pub enum BusIn {
    Notice(Envelope),
    /// Subscribed (again). `missed_since`: notices may have been missed from then on.
    Up {
        missed_since: Option<DateTime<Utc>>,
    },
    Down,
}

/// The publishing side, cloned into the hub. Never blocks.
#[derive(Clone)]
pub struct BusTx {
    node: Uuid,
    tx: mpsc::Sender<Vec<u8>>,
    /// Unix ms of the first notice lost since the last resync announcement; 0 = none.
    lost_since: Arc<AtomicI64>,
    dropped: Arc<AtomicU64>,
}

impl BusTx {
    pub fn node(&self) -> Uuid {
        self.node
    }

    pub fn publish(&self, notice: Notice) {
        let env = Envelope {
            node: self.node,
            notice,
        };
        let bytes = match serde_json::to_vec(&env) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot encode a bus notice");
                return;
            }
        };
        if self.tx.try_send(bytes).is_err() {
            self.lost();
        }
    }

    fn lost(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let now = Utc::now().timestamp_millis();
        let _ = self
            .lost_since
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A publisher whose notices land in the returned receiver (unit tests of the hub).
    #[cfg(test)]
    pub(crate) fn for_test() -> (BusTx, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(1024);
        let bus = BusTx {
            node: Uuid::new_v4(),
            tx,
            lost_since: Arc::new(AtomicI64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (bus, rx)
    }

    /// Notices dropped so far (bus down or too slow).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes the "lost since" mark, if any.
    fn take_lost(&self) -> Option<DateTime<Utc>> {
        match self.lost_since.swap(0, Ordering::AcqRel) {
            0 => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }
}

pub struct Bus {
    pub tx: BusTx,
    pub rx: mpsc::Receiver<BusIn>,
    publisher: tokio::task::JoinHandle<()>,
    receiver: tokio::task::JoinHandle<()>,
}

impl Bus {
    /// Connects to `url` (`nats://…` or `redis://…`). Starting while the bus is unreachable is
    /// allowed: the node serves alone and joins when the bus comes up.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Bus> {
        let node = Uuid::new_v4();
        let subject = format!("{}.notices", prefix.trim_end_matches('.'));
        let (pub_tx, pub_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (in_tx, in_rx) = mpsc::channel(65_536);
        let tx = BusTx {
            node,
            tx: pub_tx,
            lost_since: Arc::new(AtomicI64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        let (publisher, receiver) = if url.starts_with("nats://") || url.starts_with("tls://") {
            nats::start(url, subject, node, tx.clone(), pub_rx, in_tx).await?
        } else if url.starts_with("rediss://") {
            anyhow::bail!(
                "rediss:// (Redis over TLS) is not built in: use redis:// on a private network \
                 (or a TLS tunnel), or NATS with tls://"
            );
        } else if url.starts_with("redis://") {
            redis_bus::start(url, subject, node, tx.clone(), pub_rx, in_tx)?
        } else {
            anyhow::bail!("bus_url must start with nats:// or redis:// (got {url:?})");
        };
        Ok(Bus {
            tx,
            rx: in_rx,
            publisher,
            receiver,
        })
    }

    /// Stops the bus tasks after giving queued notices (e.g. `Leaving`) a moment to go out.
    pub async fn close(
        publisher: tokio::task::JoinHandle<()>,
        receiver: tokio::task::JoinHandle<()>,
    ) {
        receiver.abort();
        let _ = tokio::time::timeout(Duration::from_secs(2), publisher).await;
    }

    pub fn into_parts(
        self,
    ) -> (
        BusTx,
        mpsc::Receiver<BusIn>,
        (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>),
    ) {
        (self.tx, self.rx, (self.publisher, self.receiver))
    }
}

fn decode(node: Uuid, payload: &[u8]) -> Option<Envelope> {
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(env) if env.node == node => None,
        Ok(env) => Some(env),
        Err(e) => {
            tracing::warn!(error = %e, "ignoring an unreadable bus notice");
            None
        }
    }
}

/// After a publish succeeds again, tell the others to catch up on what this node lost.
fn announce_losses(tx: &BusTx) -> Option<Vec<u8>> {
    let since = tx.take_lost()? - CATCH_UP_MARGIN;
    tracing::info!(%since, dropped = tx.dropped(), "bus back: announcing a resync");
    serde_json::to_vec(&Envelope {
        node: tx.node,
        notice: Notice::Resync { since },
    })
    .ok()
}

mod nats {
    use super::*;

    pub(super) async fn start(
        url: &str,
        subject: String,
        node: Uuid,
        tx: BusTx,
        mut out: mpsc::Receiver<Vec<u8>>,
        inbound: mpsc::Sender<BusIn>,
    ) -> anyhow::Result<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)> {
        let (ev_tx, mut ev_rx) = mpsc::channel::<async_nats::Event>(64);
        let client = async_nats::ConnectOptions::new()
            .name(format!("switchboard-{node}"))
            .retry_on_initial_connect()
            .no_echo()
            .event_callback(move |ev| {
                let ev_tx = ev_tx.clone();
                async move {
                    let _ = ev_tx.try_send(ev);
                }
            })
            .connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        let mut sub = client
            .subscribe(subject.clone())
            .await
            .context("subscribing to the NATS notice subject")?;
        let pub_client = client.clone();
        let publisher = tokio::spawn(async move {
            while let Some(bytes) = out.recv().await {
                if pub_client.connection_state() != async_nats::connection::State::Connected {
                    tx.lost();
                    continue;
                }
                let sent = tokio::time::timeout(
                    PUBLISH_TIMEOUT,
                    pub_client.publish(subject.clone(), bytes.into()),
                )
                .await;
                if !matches!(sent, Ok(Ok(()))) {
                    tx.lost();
                    continue;
                }
                if let Some(resync) = announce_losses(&tx) {
                    let _ = pub_client.publish(subject.clone(), resync.into()).await;
                }
                // Drained the queue: push what the client buffered out now (latency).
                if out.is_empty() {
                    let _ = pub_client.flush().await;
                }
            }
            let _ = tokio::time::timeout(PUBLISH_TIMEOUT, pub_client.flush()).await;
        });
        let receiver = tokio::spawn(async move {
            // Until the first `Connected` the node runs alone: what other nodes published
            // meanwhile is caught up then (a no-op when the connection came up at once).
            let mut down_since: Option<DateTime<Utc>> = Some(Utc::now());
            // Keeps the connection alive as long as the receiver runs.
            let _client = client;
            loop {
                tokio::select! {
                    msg = sub.next() => match msg {
                        Some(m) => {
                            if let Some(env) = decode(node, &m.payload)
                                && inbound.send(BusIn::Notice(env)).await.is_err()
                            {
                                break;
                            }
                        }
                        None => break,
                    },
                    Some(ev) = ev_rx.recv() => {
                        let signal = match ev {
                            async_nats::Event::Disconnected => {
                                tracing::warn!("NATS connection lost");
                                down_since.get_or_insert_with(Utc::now);
                                Some(BusIn::Down)
                            }
                            async_nats::Event::Connected => {
                                tracing::info!("NATS connected");
                                Some(BusIn::Up { missed_since: down_since.take() })
                            }
                            async_nats::Event::SlowConsumer(_) => {
                                tracing::warn!("NATS dropped notices for this slow node");
                                Some(BusIn::Up { missed_since: Some(Utc::now() - chrono::Duration::seconds(10)) })
                            }
                            other => {
                                tracing::info!(event = %other, "NATS event");
                                None
                            }
                        };
                        if let Some(s) = signal
                            && inbound.send(s).await.is_err()
                        {
                            break;
                        }
                    }
                }
            }
        });
        Ok((publisher, receiver))
    }
}

mod redis_bus {
    use super::*;

    pub(super) fn start(
        url: &str,
        channel: String,
        node: Uuid,
        tx: BusTx,
        mut out: mpsc::Receiver<Vec<u8>>,
        inbound: mpsc::Sender<BusIn>,
    ) -> anyhow::Result<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)> {
        let client = redis::Client::open(url).context("parsing the Redis bus URL")?;
        let pub_client = client.clone();
        let pub_channel = channel.clone();
        let publisher = tokio::spawn(async move {
            let mut conn: Option<redis::aio::MultiplexedConnection> = None;
            while let Some(bytes) = out.recv().await {
                if conn.is_none() {
                    conn = tokio::time::timeout(
                        PUBLISH_TIMEOUT,
                        pub_client.get_multiplexed_async_connection(),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok);
                }
                let Some(c) = conn.as_mut() else {
                    tx.lost();
                    continue;
                };
                // Everything queued goes out in one pipeline: one round trip, not one per notice.
                let mut pipe = redis::pipe();
                pipe.cmd("PUBLISH").arg(&pub_channel).arg(bytes).ignore();
                for _ in 1..REDIS_PIPELINE {
                    match out.try_recv() {
                        Ok(more) => {
                            pipe.cmd("PUBLISH").arg(&pub_channel).arg(more).ignore();
                        }
                        Err(_) => break,
                    }
                }
                let sent = tokio::time::timeout(PUBLISH_TIMEOUT, pipe.query_async::<()>(c)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    conn = None;
                    tx.lost();
                    continue;
                }
                if let Some(resync) = announce_losses(&tx) {
                    let _: Result<i64, _> = redis::cmd("PUBLISH")
                        .arg(&pub_channel)
                        .arg(resync)
                        .query_async(c)
                        .await;
                }
            }
        });
        let receiver = tokio::spawn(async move {
            let mut down_since: Option<DateTime<Utc>> = None;
            let mut backoff = Duration::from_millis(100);
            loop {
                let subscribed = async {
                    let mut ps = client.get_async_pubsub().await?;
                    ps.subscribe(&channel).await?;
                    Ok::<_, redis::RedisError>(ps)
                };
                match tokio::time::timeout(PUBLISH_TIMEOUT, subscribed).await {
                    Ok(Ok(ps)) => {
                        backoff = Duration::from_millis(100);
                        tracing::info!("Redis bus subscribed");
                        let up = BusIn::Up {
                            missed_since: down_since.take(),
                        };
                        if inbound.send(up).await.is_err() {
                            return;
                        }
                        let mut stream = ps.into_on_message();
                        while let Some(msg) = stream.next().await {
                            if let Some(env) = decode(node, msg.get_payload_bytes())
                                && inbound.send(BusIn::Notice(env)).await.is_err()
                            {
                                return;
                            }
                        }
                        tracing::warn!("Redis bus connection lost");
                        down_since.get_or_insert_with(Utc::now);
                        if inbound.send(BusIn::Down).await.is_err() {
                            return;
                        }
                    }
                    failed => {
                        if down_since.is_none() {
                            let why = match failed {
                                Ok(Err(e)) => e.to_string(),
                                _ => "timed out".to_string(),
                            };
                            tracing::warn!(error = %why, "Redis bus unreachable; retrying");
                        }
                        down_since.get_or_insert_with(Utc::now);
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Ok((publisher, receiver))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_own_notices_are_ignored() {
        let node = Uuid::new_v4();
        let env = Envelope {
            node,
            notice: Notice::Typing {
                account_id: Uuid::new_v4(),
                conversation_id: Uuid::new_v4(),
                sender_type: SenderType::Customer,
                sender_id: Uuid::new_v4(),
                typing: true,
                private: false,
            },
        };
        let bytes = serde_json::to_vec(&env).unwrap_or_default();
        assert!(
            decode(node, &bytes).is_none(),
            "a node ignores its own notices"
        );
        let other = decode(Uuid::new_v4(), &bytes);
        assert!(matches!(
            other.map(|e| e.notice),
            Some(Notice::Typing { typing: true, .. })
        ));
        assert!(decode(node, b"{not json").is_none());
    }

    #[test]
    fn dropped_notices_are_remembered_once() {
        let (tx, _rx) = mpsc::channel(1);
        let bus = BusTx {
            node: Uuid::new_v4(),
            tx,
            lost_since: Arc::new(AtomicI64::new(0)),
            dropped: Arc::new(AtomicU64::new(0)),
        };
        bus.publish(Notice::Leaving);
        assert!(bus.take_lost().is_none());
        bus.publish(Notice::Leaving);
        bus.publish(Notice::Leaving);
        assert_eq!(bus.dropped(), 2);
        assert!(bus.take_lost().is_some());
        assert!(bus.take_lost().is_none(), "the mark is taken once");
    }
}
