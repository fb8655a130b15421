//! The index schema: one document per conversation.
//!
//! | field             | kind                                   | what                                  |
//! |-------------------|----------------------------------------|---------------------------------------|
//! | `account_id`      | raw, indexed                           | every query is scoped to one account  |
//! | `conversation_id` | raw, indexed, stored                   | upserts/deletes by term               |
//! | `text`            | `sb` analyzer, positions               | subject, contact name + email, tags, every message body (private notes too) |
//! | `customer`        | raw (lower-cased email)                | `customer:`                           |
//! | `tag`             | raw, multi                             | `tag:`                                |
//! | `status`          | raw                                    | `status:`                             |
//! | `inbox`           | raw, multi (lower-cased name, id)      | `inbox:`                              |
//! | `agent`           | raw, multi (email, lower name, id)     | `agent:`                              |
//! | `created_at`, `updated_at` | date, fast                    | `before:`/`after:`, date sort         |
//! | `cid`             | u64, fast                              | tie-break (first 8 bytes of the id)   |
//! | `doc`             | stored bytes (JSON)                    | what a hit shows, messages for snippets |
use anyhow::Context;
use tantivy::schema::{
    BytesOptions, DateOptions, Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing,
    TextOptions,
};

use super::analyzer::ANALYZER;

/// Bumped whenever the schema, the analyzer or what goes into a document changes: an index of
/// another version is rebuilt from the database.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug)]
pub struct Fields {
    pub account_id: Field,
    pub conversation_id: Field,
    pub text: Field,
    pub customer: Field,
    pub tag: Field,
    pub status: Field,
    pub inbox: Field,
    pub agent: Field,
    pub created_at: Field,
    pub updated_at: Field,
    pub cid: Field,
    pub doc: Field,
}

fn raw(stored: bool) -> TextOptions {
    let o = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    if stored { o.set_stored() } else { o }
}

pub fn build() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("account_id", raw(false));
    b.add_text_field("conversation_id", raw(true));
    b.add_text_field(
        "text",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    b.add_text_field("customer", raw(false));
    b.add_text_field("tag", raw(false));
    b.add_text_field("status", raw(false));
    b.add_text_field("inbox", raw(false));
    b.add_text_field("agent", raw(false));
    b.add_date_field("created_at", DateOptions::default().set_fast());
    b.add_date_field("updated_at", DateOptions::default().set_fast());
    b.add_u64_field("cid", NumericOptions::default().set_fast());
    b.add_bytes_field("doc", BytesOptions::default().set_stored());
    b.build()
}

pub fn fields(schema: &Schema) -> anyhow::Result<Fields> {
    let f = |name: &str| {
        schema
            .get_field(name)
            .with_context(|| format!("search index has no field {name}"))
    };
    Ok(Fields {
        account_id: f("account_id")?,
        conversation_id: f("conversation_id")?,
        text: f("text")?,
        customer: f("customer")?,
        tag: f("tag")?,
        status: f("status")?,
        inbox: f("inbox")?,
        agent: f("agent")?,
        created_at: f("created_at")?,
        updated_at: f("updated_at")?,
        cid: f("cid")?,
        doc: f("doc")?,
    })
}
