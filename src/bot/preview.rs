//! "What would the bot find?": the knowledge-base retrieval the bot runs, shown to agents and
//! admins for a question they type (the KB admin page's search box).
use serde::Serialize;

use super::answer::Citation;
use crate::{
    actor::AgentIdentity,
    context::AppContext,
    error::{AppError, AppResult},
};

/// Longest question accepted, in bytes.
const MAX_QUESTION_BYTES: usize = 2000;

#[derive(Serialize)]
pub struct KbHit {
    pub article: Citation,
    pub score: f32,
    pub heading: String,
    pub snippet: String,
}

#[derive(Serialize)]
pub struct KbPreview {
    pub hits: Vec<KbHit>,
    /// Words of the question the knowledge base does not know.
    pub unknown_terms: Vec<String>,
}

/// The articles (best section first, 300 characters of it) retrieval finds for `question` in
/// the agent's account, at most `limit` (1–20, default 5).
pub async fn what_the_bot_finds(
    ctx: &AppContext,
    who: &AgentIdentity,
    question: &str,
    limit: Option<usize>,
) -> AppResult<KbPreview> {
    if question.trim().is_empty() || question.len() > MAX_QUESTION_BYTES {
        return Err(AppError::Invalid(format!(
            "q must have 1 to {MAX_QUESTION_BYTES} bytes"
        )));
    }
    let index = ctx.kb.get(&ctx.db, who.account_id).await?;
    let r = index.retrieve(question, limit.unwrap_or(5).clamp(1, 20));
    let hits = r
        .hits
        .iter()
        .filter_map(|h| {
            let d = index.docs().get(h.doc)?;
            let s = h.sections.first().and_then(|(i, _)| d.sections.get(*i));
            Some(KbHit {
                article: Citation::of(d),
                score: h.score,
                heading: s.map(|s| s.heading.clone()).unwrap_or_default(),
                snippet: s
                    .map(|s| s.text.chars().take(300).collect())
                    .unwrap_or_default(),
            })
        })
        .collect();
    Ok(KbPreview {
        hits,
        unknown_terms: r.unknown,
    })
}
