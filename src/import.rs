//! `switchboard import conversations FILE.jsonl`: transcripts from another tool, one JSON object
//! per line in the format of `tests/data/eval/conversations.jsonl`:
//! `{id, subject, customer: {name, email}, status, tags, created_at, updated_at,
//!   messages: [{ts, role: customer|agent|bot|note, author, text}]}`.
//!
//! Each conversation keeps its source `id` as `external_id` (importing the same file twice adds
//! nothing), its subject, status, tags and timestamps; customers become contacts (one per email
//! and inbox). Rows go straight to the database in chunked transactions; `updated_at` is the
//! import time, so the search indexer (which follows `updated_at`) picks them up. Invalid lines
//! are reported with their line number and skipped; everything valid is imported.
use std::{collections::HashMap, path::Path};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    TransactionTrait,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::{
    context::AppContext,
    conversations::state::{self, Status},
    db::entities::{contact, conversation, message},
};

#[derive(Debug, Deserialize)]
struct SourceCustomer {
    name: Option<String>,
    email: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SourceMessage {
    ts: DateTime<Utc>,
    role: String,
    #[serde(default)]
    text: String,
}

#[derive(Debug, Deserialize)]
struct SourceConversation {
    id: String,
    subject: Option<String>,
    customer: Option<SourceCustomer>,
    status: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    messages: Vec<SourceMessage>,
}

#[derive(Debug, Default)]
pub struct ImportStats {
    pub conversations: usize,
    pub messages: usize,
    /// Already imported (same `external_id` in the account).
    pub skipped: usize,
    /// `line N: why`, for lines that could not be imported.
    pub errors: Vec<String>,
}

/// Conversations per transaction.
const CHUNK: usize = 200;

pub async fn conversations(
    ctx: &AppContext,
    path: &Path,
    account_id: Uuid,
    inbox_id: Uuid,
    progress: bool,
) -> anyhow::Result<ImportStats> {
    conversations_into(&ctx.db, path, account_id, inbox_id, progress).await
}

/// Our statuses by name, plus the other tools' words for resolved.
fn status(s: Option<&str>) -> Result<Status, String> {
    let s = s.map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    match s.as_str() {
        "" => Ok(Status::Open),
        "closed" | "solved" | "done" => Ok(Status::Resolved),
        other => Status::parse(other).ok_or_else(|| format!("unknown status {other:?}")),
    }
}

#[derive(Debug)]
struct Parsed {
    src: SourceConversation,
    status: Status,
    tags: Vec<String>,
}

fn parse_line(line: &str) -> Result<Parsed, String> {
    let src: SourceConversation =
        serde_json::from_str(line).map_err(|e| format!("not a conversation: {e}"))?;
    let id = src.id.trim();
    if id.is_empty() || id.chars().count() > 200 {
        return Err("id must have 1 to 200 characters".into());
    }
    if src.messages.iter().any(|m| m.text.len() > 64 * 1024) {
        return Err("a message is longer than 64 KiB".into());
    }
    let status = status(src.status.as_deref())?;
    let tags = crate::tags::clean(&src.tags).map_err(|e| e.to_string())?;
    Ok(Parsed { src, status, tags })
}

/// Same as [`conversations`], given only a database (the CLI).
pub async fn conversations_into(
    db: &DatabaseConnection,
    path: &Path,
    account_id: Uuid,
    inbox_id: Uuid,
    progress: bool,
) -> anyhow::Result<ImportStats> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let bar = if progress {
        let b = indicatif::ProgressBar::new(lines.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} conversations ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut stats = ImportStats::default();
    for chunk in lines.chunks(CHUNK) {
        let mut parsed = Vec::new();
        for (n, line) in chunk {
            match parse_line(line) {
                Ok(p) => parsed.push(p),
                Err(e) => stats.errors.push(format!("line {n}: {e}")),
            }
        }
        write_chunk(db, account_id, inbox_id, parsed, &mut stats).await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(stats)
}

async fn write_chunk(
    db: &DatabaseConnection,
    account_id: Uuid,
    inbox_id: Uuid,
    parsed: Vec<Parsed>,
    stats: &mut ImportStats,
) -> anyhow::Result<()> {
    if parsed.is_empty() {
        return Ok(());
    }
    let txn = db.begin().await?;
    let ids: Vec<String> = parsed.iter().map(|p| p.src.id.trim().to_string()).collect();
    let existing: Vec<String> = conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(account_id))
        .filter(conversation::Column::ExternalId.is_in(ids))
        .all(&txn)
        .await?
        .into_iter()
        .filter_map(|c| c.external_id)
        .collect();
    let mut contacts: HashMap<String, Uuid> = HashMap::new();
    let now = Utc::now();
    let mut msgs: Vec<message::ActiveModel> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for p in parsed {
        let ext = p.src.id.trim().to_string();
        if existing.contains(&ext) || seen.contains(&ext) {
            stats.skipped += 1;
            continue;
        }
        seen.push(ext.clone());
        let (name, email) = p.src.customer.map_or((None, None), |c| {
            (
                c.name
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty()),
                c.email
                    .map(|e| e.trim().to_lowercase())
                    .filter(|e| e.contains('@')),
            )
        });
        let contact_id =
            contact_for(&txn, account_id, inbox_id, name, email, &mut contacts, now).await?;
        let conv_id = Uuid::now_v7();
        let mut last_at = None;
        let mut seq = 0;
        for m in &p.src.messages {
            seq += 1;
            let (sender_type, private) = match m.role.as_str() {
                "customer" | "user" | "contact" => ("customer", false),
                "bot" => ("bot", false),
                "note" | "private" => ("agent", true),
                _ => ("agent", false),
            };
            let sender_id = if sender_type == "customer" {
                contact_id
            } else {
                // Imported agents are not accounts here: the author is not mapped to one.
                Uuid::nil()
            };
            msgs.push(message::ActiveModel {
                id: Set(Uuid::now_v7()),
                account_id: Set(account_id),
                conversation_id: Set(conv_id),
                seq: Set(seq),
                client_msg_id: Set(format!("import-{seq}")),
                sender_type: Set(sender_type.into()),
                sender_id: Set(sender_id),
                private: Set(private),
                body: Set(m.text.clone()),
                created_at: Set(m.ts),
            });
            last_at = Some(m.ts);
        }
        let model = conversation::Model {
            id: conv_id,
            account_id,
            inbox_id,
            contact_id,
            status: p.status,
            assignee_id: None,
            last_seq: seq,
            created_at: p.src.created_at,
            updated_at: now,
            last_message_at: last_at.or(p.src.updated_at),
            snoozed_until: None,
            waiting_since: None,
            subject: p
                .src
                .subject
                .map(|s| s.trim().chars().take(300).collect::<String>())
                .filter(|s| !s.is_empty()),
            external_id: Some(ext),
            tags: p.tags.join("\n"),
            bot_state: None,
            bot_turns: 0,
            bot_lease_until: None,
        };
        state::create(&txn, model).await?;
        stats.conversations += 1;
        stats.messages += seq as usize;
    }
    let mut rows = msgs.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<_> = rows.by_ref().take(500).collect();
        message::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The contact for a customer: one per email and inbox (reused across conversations and
/// imports); customers without an email get a contact each.
async fn contact_for(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    inbox_id: Uuid,
    name: Option<String>,
    email: Option<String>,
    cache: &mut HashMap<String, Uuid>,
    now: DateTime<Utc>,
) -> anyhow::Result<Uuid> {
    if let Some(e) = &email {
        if let Some(id) = cache.get(e) {
            return Ok(*id);
        }
        if let Some(c) = contact::Entity::find()
            .filter(contact::Column::InboxId.eq(inbox_id))
            .filter(contact::Column::Email.eq(e.as_str()))
            .one(db)
            .await?
        {
            cache.insert(e.clone(), c.id);
            return Ok(c.id);
        }
    }
    let id = Uuid::now_v7();
    contact::Entity::insert(contact::ActiveModel {
        id: Set(id),
        account_id: Set(account_id),
        inbox_id: Set(inbox_id),
        name: Set(name),
        email: Set(email.clone()),
        created_at: Set(now),
        external_id: Set(None),
        last_seen_at: Set(None),
        pages: Set("[]".into()),
    })
    .exec_without_returning(db)
    .await?;
    if let Some(e) = email {
        cache.insert(e, id);
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_validated_with_clear_reasons() {
        let ok = r#"{"id":"c-1","status":"closed","tags":["Billing"],"created_at":"2024-02-05T08:02:00Z","messages":[]}"#;
        let p = parse_line(ok).expect("valid");
        assert_eq!(p.status, Status::Resolved);
        assert_eq!(p.tags, vec!["billing"]);
        assert!(parse_line("{").unwrap_err().contains("not a conversation"));
        let bad_status = r#"{"id":"c-2","status":"lost","created_at":"2024-02-05T08:02:00Z"}"#;
        assert!(
            parse_line(bad_status)
                .unwrap_err()
                .contains("unknown status")
        );
        let no_id = r#"{"id":" ","created_at":"2024-02-05T08:02:00Z"}"#;
        assert!(parse_line(no_id).is_err());
    }
}
