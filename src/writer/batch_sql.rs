//! Set-based statements for the group-commit writer, so a batch costs a handful of statements
//! whatever its size: the idempotency lookup probes the unique index once per key (filtering on
//! `conversation_id IN (..) AND client_msg_id IN (..)` instead scanned every message of every
//! conversation in the batch), and all touched conversations are bumped by one `UPDATE … FROM
//! (VALUES …)` (SQLite ≥ 3.33 and PostgreSQL). Statements are chunked to bound their bound values.
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult, Statement, Value,
};
use uuid::Uuid;

use crate::{conversations::state, db::entities::message};

/// Keys per idempotency lookup statement and rows per INSERT / UPDATE statement: 5,000 bound
/// values at most, far below SQLite's 32,766 and PostgreSQL's 65,535.
const CHUNK: usize = 500;

struct Params {
    backend: DatabaseBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DatabaseBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// Adds a bound value and returns its placeholder, cast on PostgreSQL where VALUES lists
    /// would otherwise have no type.
    fn push(&mut self, v: impl Into<Value>, pg_type: &str) -> String {
        self.values.push(v.into());
        match self.backend {
            DatabaseBackend::Postgres => format!("${}::{pg_type}", self.values.len()),
            _ => "?".to_string(),
        }
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// Stored messages matching any (conversation, sender, client_msg_id) key.
pub async fn existing(
    db: &impl ConnectionTrait,
    keys: &[(Uuid, Uuid, &str)],
) -> Result<Vec<message::Model>, DbErr> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for chunk in keys.chunks(CHUNK) {
        let mut p = Params::new(backend);
        let rows: Vec<String> = chunk
            .iter()
            .map(|(c, s, m)| {
                format!(
                    "({}, {}, {})",
                    p.push(*c, "uuid"),
                    p.push(*s, "uuid"),
                    p.push(m.to_string(), "text")
                )
            })
            .collect();
        let probe = if backend == DatabaseBackend::Postgres {
            // A plain join is planned as a hash join over the whole table; LATERAL … LIMIT 1
            // forces one index probe per key.
            "SELECT m.* FROM k CROSS JOIN LATERAL (SELECT * FROM message WHERE message.conversation_id = k.c \
             AND message.client_msg_id = k.m AND message.sender_id = k.s LIMIT 1) m"
        } else {
            "SELECT message.* FROM k JOIN message ON message.conversation_id = k.c \
             AND message.client_msg_id = k.m AND message.sender_id = k.s"
        };
        let sql = format!("WITH k(c, s, m) AS (VALUES {}) {probe}", rows.join(", "));
        let found = message::Model::find_by_statement(p.statement(sql))
            .all(db)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Inserts new messages in chunks.
pub async fn insert(
    db: &impl ConnectionTrait,
    rows: Vec<message::ActiveModel>,
) -> Result<(), DbErr> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(CHUNK).collect();
        message::Entity::insert_many(chunk)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// New state of one conversation after a batch.
pub struct Bump {
    pub id: Uuid,
    pub last_seq: i64,
    pub reopen: bool,
    /// Some(true): a customer now waits for an answer (keeps the oldest wait); Some(false): an
    /// agent or the bot answered; None: unchanged.
    pub waiting: Option<bool>,
}

/// Moves `last_seq` (and the activity timestamps) of every touched conversation; reopens a
/// resolved or snoozed conversation when a customer wrote to it, and tracks how long a customer
/// has been waiting for an answer.
pub async fn bump_conversations(
    db: &impl ConnectionTrait,
    bumps: &[Bump],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    for chunk in bumps.chunks(CHUNK) {
        let mut p = Params::new(backend);
        // Pushed twice: SQLite's `?` placeholders are positional.
        let (msg_at, upd_at, wait_at) = (
            p.push(now, "timestamptz"),
            p.push(now, "timestamptz"),
            p.push(now, "timestamptz"),
        );
        let rows: Vec<String> = chunk
            .iter()
            .map(|b| {
                let waiting = match b.waiting {
                    None => 0,
                    Some(true) => 1,
                    Some(false) => 2,
                };
                format!(
                    "({}, {}, {}, {})",
                    p.push(b.id, "uuid"),
                    p.push(b.last_seq, "bigint"),
                    p.push(b.reopen, "boolean"),
                    p.push(waiting, "integer")
                )
            })
            .collect();
        let sql = format!(
            "UPDATE conversation SET {} FROM (VALUES {}) AS v WHERE conversation.id = v.column1",
            state::batch_bump_assignments(&msg_at, &upd_at, &wait_at),
            rows.join(", ")
        );
        db.execute_raw(p.statement(sql)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, Utc};

    use super::{Bump, bump_conversations};
    use crate::conversations::state::{Status, customer_wrote, set_status, tests::fixture};

    /// The writer's set-based statement applies the same rule as `customer_wrote`.
    #[tokio::test]
    async fn batch_bump_reopens_and_tracks_waiting() {
        let f = fixture().await;
        let resolved = f.conv(Status::Resolved, None).await;
        let snoozed = f.conv(Status::Open, None).await;
        set_status(
            &f.db,
            &f.events,
            snoozed.id,
            Status::Snoozed,
            Some(Utc::now() + Duration::hours(1)),
        )
        .await
        .expect("snooze");
        let answered = f.conv(Status::Pending, None).await;
        let mut bumps = Vec::new();
        for (c, customer) in [(&resolved, true), (&snoozed, true), (&answered, false)] {
            let mut m = f.row(c.id).await;
            let reopen = customer && customer_wrote(&mut m);
            bumps.push(Bump {
                id: c.id,
                last_seq: 1,
                reopen,
                waiting: Some(customer),
            });
        }
        bump_conversations(&f.db, &bumps, Utc::now())
            .await
            .expect("bump");
        for id in [resolved.id, snoozed.id] {
            let r = f.row(id).await;
            assert_eq!(
                (r.status, r.snoozed_until, r.last_seq),
                (Status::Open, None, 1)
            );
            assert!(r.waiting_since.is_some());
        }
        let a = f.row(answered.id).await;
        assert_eq!((a.status, a.waiting_since), (Status::Pending, None));
        f.done().await;
    }
}
