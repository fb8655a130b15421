//! The group-commit writer: the single task that stores messages. Concurrent sends queue on a
//! bounded channel; the writer takes everything waiting (up to a batch limit), stores it in ONE
//! transaction — authorization, idempotency check, seq assignment, insert, `last_seq` bump — and
//! answers each sender only after that transaction committed. Events go out after the commit, in
//! seq order. One fsync is shared by the whole batch, which is what makes durable writes fast.
use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

mod batch_sql;

use crate::{
    actor::{Actor, SenderType},
    conversations::state,
    db::{self, entities::conversation, entities::message},
    error::{AppError, AppResult},
    events::{DomainEvent, Events},
    messages::model::{Message, SendCommand, Sent},
};

pub struct WriteRequest {
    pub actor: Actor,
    pub cmd: SendCommand,
    pub reply: oneshot::Sender<AppResult<Sent>>,
}

#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<WriteRequest>,
}

/// A send that has been queued; resolves once its batch has committed (or failed).
pub type PendingSend = oneshot::Receiver<AppResult<Sent>>;

impl WriterHandle {
    /// Queues a send. Requests from one caller are stored in the order they were queued.
    pub async fn submit(&self, actor: Actor, cmd: SendCommand) -> AppResult<PendingSend> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(WriteRequest { actor, cmd, reply })
            .await
            .map_err(|_| AppError::Unavailable(anyhow::anyhow!("message writer stopped")))?;
        Ok(rx)
    }
}

pub fn spawn(
    db: DatabaseConnection,
    events: Events,
    max_batch: usize,
) -> (WriterHandle, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(max_batch.max(1) * 8);
    let task = tokio::spawn(run(db, events, rx, max_batch.max(1)));
    (WriterHandle { tx }, task)
}

async fn run(
    db: DatabaseConnection,
    events: Events,
    mut rx: mpsc::Receiver<WriteRequest>,
    max_batch: usize,
) {
    let mut batch = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        // Ids are chosen once: if a COMMIT reported failure but did store the batch, a retry (or
        // the salvage below) recognises its own rows by id and still reports them as new.
        let ids: Vec<Uuid> = batch.iter().map(|_| Uuid::now_v7()).collect();
        let outcome = match write_with_retry(&db, &batch, &ids).await {
            Ok(w) => Ok(w),
            Err(e) => salvage(&db, &ids)
                .await
                .map(|results| Written {
                    results,
                    reopened: Vec::new(),
                })
                .ok_or(e),
        };
        match outcome {
            Ok(Written { results, reopened }) => {
                // Publish first so that live viewers learn about a message no later than its sender.
                for r in results.iter().flatten().filter(|s| !s.sent.duplicate) {
                    events
                        .publish(DomainEvent::MessageCreated {
                            account_id: r.account_id,
                            message: r.sent.message.clone(),
                        })
                        .await;
                }
                for conv in &reopened {
                    state::announce(&events, conv).await;
                }
                for (req, res) in batch.drain(..).zip(results) {
                    let _ = req.reply.send(res.map(|o| o.sent));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, size = batch.len(), "message batch failed; nothing stored");
                for req in batch.drain(..) {
                    let _ = req.reply.send(Err(AppError::Unavailable(anyhow::anyhow!(
                        "could not store the message: {e}"
                    ))));
                }
            }
        }
    }
    tracing::debug!("message writer stopped");
}

struct Outcome {
    account_id: Uuid,
    sent: Sent,
}

/// A failed transaction stored nothing, so retrying it is safe; a failed COMMIT may have stored
/// the batch, and the retry then finds every message by its idempotency key.
async fn write_with_retry(
    db: &DatabaseConnection,
    batch: &[WriteRequest],
    ids: &[Uuid],
) -> Result<Written, DbErr> {
    let mut attempt = 0;
    loop {
        match write_batch(db, batch, ids).await {
            Ok(r) => return Ok(r),
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "retrying message batch");
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Every attempt failed, but the last COMMIT may still have stored the batch (it is atomic: all
/// or nothing). If its rows are there, they are acked and published like any new message, so a
/// stored message is never left unannounced; the other requests of the batch get a retryable
/// error. None when nothing was stored or the database cannot even be read.
async fn salvage(db: &DatabaseConnection, ids: &[Uuid]) -> Option<Vec<AppResult<Outcome>>> {
    let found = message::Entity::find()
        .filter(message::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await
        .ok()?;
    if found.is_empty() {
        return None;
    }
    let mut by_id: HashMap<Uuid, message::Model> = found.into_iter().map(|m| (m.id, m)).collect();
    let results = ids
        .iter()
        .map(|id| match by_id.remove(id) {
            Some(m) => Ok(Outcome {
                account_id: m.account_id,
                sent: Sent {
                    message: Arc::new(Message::from(m)),
                    duplicate: false,
                },
            }),
            None => Err(AppError::Unavailable(anyhow::anyhow!(
                "the database failed; retry"
            ))),
        })
        .collect();
    Some(results)
}

type IdemKey = (Uuid, Uuid, String);

async fn write_batch(
    db: &DatabaseConnection,
    batch: &[WriteRequest],
    ids: &[Uuid],
) -> Result<Written, DbErr> {
    let mut conv_ids: Vec<Uuid> = batch.iter().map(|r| r.cmd.conversation_id).collect();
    conv_ids.sort_unstable();
    conv_ids.dedup();

    let txn = db.begin_with_options(db::write_txn()).await?;
    let mut select = conversation::Entity::find().filter(conversation::Column::Id.is_in(conv_ids));
    if db::is_postgres(db) {
        // Serializes writers of the same conversation across nodes; SQLite's IMMEDIATE
        // transaction already holds the database write lock.
        select = select.lock_exclusive();
    }
    let mut convs: HashMap<Uuid, conversation::Model> = select
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();

    let mut results: Vec<Option<AppResult<Outcome>>> = Vec::with_capacity(batch.len());
    let mut wanted: Vec<usize> = Vec::new();
    for (i, req) in batch.iter().enumerate() {
        let verdict = match convs.get(&req.cmd.conversation_id) {
            None => Some(Err(AppError::NotFound("conversation"))),
            Some(c) if !req.actor.can_access(c.account_id, c.id, c.contact_id) => {
                // Same answer as a missing conversation: ids of others are not confirmed.
                Some(Err(AppError::NotFound("conversation")))
            }
            Some(_) if req.cmd.private && matches!(req.actor, Actor::Customer(_)) => Some(Err(
                AppError::Forbidden("only agents can write private notes"),
            )),
            Some(_) => None,
        };
        if verdict.is_none() {
            wanted.push(i);
        }
        results.push(verdict);
    }

    // Idempotency: find messages already stored under the same (conversation, sender, id).
    let mut existing: HashMap<IdemKey, message::Model> = HashMap::new();
    if !wanted.is_empty() {
        let keys: Vec<(Uuid, Uuid, &str)> = wanted
            .iter()
            .map(|&i| {
                let r = &batch[i];
                (
                    r.cmd.conversation_id,
                    r.actor.sender_id(),
                    r.cmd.client_msg_id.as_str(),
                )
            })
            .collect();
        for m in batch_sql::existing(&txn, &keys).await? {
            existing.insert((m.conversation_id, m.sender_id, m.client_msg_id.clone()), m);
        }
    }

    let now = Utc::now();
    let mut fresh: Vec<message::ActiveModel> = Vec::new();
    let mut in_batch: HashMap<IdemKey, Arc<Message>> = HashMap::new();
    let mut touched: HashMap<Uuid, Touch> = HashMap::new();
    for &i in &wanted {
        let req = &batch[i];
        let key = (
            req.cmd.conversation_id,
            req.actor.sender_id(),
            req.cmd.client_msg_id.clone(),
        );
        let conv = match convs.get_mut(&req.cmd.conversation_id) {
            Some(c) => c,
            None => continue,
        };
        let account_id = conv.account_id;
        if let Some(m) = existing.get(&key) {
            let ours = m.id == ids[i];
            results[i] = Some(Ok(Outcome {
                account_id,
                sent: Sent {
                    message: Arc::new(Message::from(m.clone())),
                    duplicate: !ours,
                },
            }));
            continue;
        }
        if let Some(m) = in_batch.get(&key) {
            results[i] = Some(Ok(Outcome {
                account_id,
                sent: Sent {
                    message: m.clone(),
                    duplicate: true,
                },
            }));
            continue;
        }
        conv.last_seq += 1;
        let msg = Arc::new(Message {
            id: ids[i],
            conversation_id: conv.id,
            seq: conv.last_seq,
            client_msg_id: req.cmd.client_msg_id.clone(),
            sender_type: req.actor.sender_type(),
            sender_id: req.actor.sender_id(),
            private: req.cmd.private,
            body: req.cmd.body.clone(),
            created_at: now,
        });
        let t = touched.entry(conv.id).or_default();
        if !msg.private {
            let from_customer = msg.sender_type == SenderType::Customer;
            // A customer writing to a resolved or snoozed conversation reopens it.
            if from_customer && state::customer_wrote(conv) {
                t.reopened = true;
            }
            t.waiting = Some(from_customer);
        }
        fresh.push(to_active(&msg, account_id));
        in_batch.insert(key, msg.clone());
        results[i] = Some(Ok(Outcome {
            account_id,
            sent: Sent {
                message: msg,
                duplicate: false,
            },
        }));
    }

    batch_sql::insert(&txn, fresh).await?;
    let bumps: Vec<batch_sql::Bump> = touched
        .iter()
        .filter_map(|(id, t)| {
            let c = convs.get(id)?;
            Some(batch_sql::Bump {
                id: *id,
                last_seq: c.last_seq,
                reopen: t.reopened,
                waiting: t.waiting,
            })
        })
        .collect();
    batch_sql::bump_conversations(&txn, &bumps, now).await?;
    txn.commit().await?;

    let reopened = touched
        .iter()
        .filter(|(_, t)| t.reopened)
        .filter_map(|(id, _)| convs.remove(id))
        .collect();
    let results = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(AppError::Internal(anyhow::anyhow!("unanswered send")))))
        .collect();
    Ok(Written { results, reopened })
}

/// What a batch did to one conversation.
#[derive(Default)]
struct Touch {
    reopened: bool,
    /// Whether, after the batch, a customer waits for an answer (None: no public message).
    waiting: Option<bool>,
}

struct Written {
    results: Vec<AppResult<Outcome>>,
    /// Conversations a customer reopened (as written: the rows read in this transaction with
    /// [`state::customer_wrote`] applied), to announce after the messages.
    reopened: Vec<conversation::Model>,
}

fn to_active(m: &Message, account_id: Uuid) -> message::ActiveModel {
    use sea_orm::ActiveValue::Set;
    message::ActiveModel {
        id: Set(m.id),
        account_id: Set(account_id),
        conversation_id: Set(m.conversation_id),
        seq: Set(m.seq),
        client_msg_id: Set(m.client_msg_id.clone()),
        sender_type: Set(m.sender_type.as_str().to_string()),
        sender_id: Set(m.sender_id),
        private: Set(m.private),
        body: Set(m.body.clone()),
        created_at: Set(m.created_at),
    }
}
