//! A [`ConvDoc`] as a tantivy document, and the stored part read back for hits.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::TantivyDocument;

use super::{ConvDoc, DocMessage, schema::Fields};

/// The stored JSON of a conversation document (short keys: it is stored for every one).
#[derive(Serialize)]
struct StoredRef<'a> {
    #[serde(rename = "e")]
    external_id: Option<&'a str>,
    #[serde(rename = "s")]
    subject: Option<&'a str>,
    #[serde(rename = "n")]
    contact_name: Option<&'a str>,
    #[serde(rename = "m")]
    contact_email: Option<&'a str>,
    #[serde(rename = "st")]
    status: &'a str,
    #[serde(rename = "t")]
    tags: &'a [String],
    #[serde(rename = "i")]
    inbox: &'a str,
    #[serde(rename = "c")]
    created_at: DateTime<Utc>,
    #[serde(rename = "u")]
    updated_at: DateTime<Utc>,
    #[serde(rename = "msgs")]
    messages: &'a [DocMessage],
}

#[derive(Deserialize)]
pub(super) struct Stored {
    #[serde(rename = "e")]
    pub external_id: Option<String>,
    #[serde(rename = "s")]
    pub subject: Option<String>,
    #[serde(rename = "n")]
    pub contact_name: Option<String>,
    #[serde(rename = "m")]
    pub contact_email: Option<String>,
    #[serde(rename = "st")]
    pub status: String,
    #[serde(rename = "t")]
    pub tags: Vec<String>,
    #[serde(rename = "i")]
    pub inbox: String,
    #[serde(rename = "c")]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "u")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "msgs")]
    pub messages: Vec<DocMessage>,
}

pub(super) fn date(d: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(d.timestamp_micros())
}

/// The tie-break key: the first 8 bytes of the conversation id.
pub(super) fn cid(id: uuid::Uuid) -> u64 {
    id.as_u64_pair().0
}

pub(super) fn build(f: &Fields, d: &ConvDoc) -> anyhow::Result<TantivyDocument> {
    let mut doc = TantivyDocument::new();
    doc.add_text(f.account_id, d.account_id.to_string());
    doc.add_text(f.conversation_id, d.conversation_id.to_string());
    if let Some(s) = &d.subject {
        doc.add_text(f.text, s);
    }
    if let Some(n) = &d.contact_name {
        doc.add_text(f.text, n);
    }
    if let Some(e) = &d.contact_email {
        doc.add_text(f.text, e);
        doc.add_text(f.customer, e.trim().to_lowercase());
    }
    for t in &d.tags {
        doc.add_text(f.text, t);
        doc.add_text(f.tag, t.trim().to_lowercase());
    }
    doc.add_text(f.status, d.status.to_lowercase());
    doc.add_text(f.inbox, d.inbox_name.trim().to_lowercase());
    doc.add_text(f.inbox, d.inbox_id.to_string());
    if let Some(a) = d.assignee_id {
        doc.add_text(f.agent, a.to_string());
    }
    if let Some(e) = &d.assignee_email {
        doc.add_text(f.agent, e.trim().to_lowercase());
    }
    if let Some(n) = &d.assignee_name {
        doc.add_text(f.agent, n.trim().to_lowercase());
    }
    doc.add_date(f.created_at, date(d.created_at));
    doc.add_date(f.updated_at, date(d.updated_at));
    doc.add_u64(f.cid, cid(d.conversation_id));
    for m in &d.messages {
        doc.add_text(f.text, &m.body);
    }
    let stored = serde_json::to_vec(&StoredRef {
        external_id: d.external_id.as_deref(),
        subject: d.subject.as_deref(),
        contact_name: d.contact_name.as_deref(),
        contact_email: d.contact_email.as_deref(),
        status: &d.status,
        tags: &d.tags,
        inbox: &d.inbox_name,
        created_at: d.created_at,
        updated_at: d.updated_at,
        messages: &d.messages,
    })?;
    doc.add_bytes(f.doc, &stored);
    Ok(doc)
}
