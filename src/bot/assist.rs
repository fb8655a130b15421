//! Agent assistance: a suggested reply streamed token by token (grounded in the conversation and
//! the top KB passages, showing which articles it used) and a short summary. Suggestions are only
//! ever shown to the agent, never sent. With no model configured, the offline responder drafts
//! the reply from the best KB passage (streamed word by word, so the dashboard behaves the same).
//! The model call runs in its own task feeding a bounded channel; it stops when the agent's
//! request goes away, and a failure becomes an `Error` event ("suggestion unavailable").
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{
    answer::{self, Citation},
    decide::{self, Source, Turn},
};
use crate::{
    actor::{Actor, AgentIdentity, SenderType},
    context::AppContext,
    conversations,
    error::AppResult,
    kb::KbIndex,
    llm::{self, StreamItem, Usage, prompts},
    messages::{Message, repo},
};

/// Messages of context given to the model.
const CONTEXT_MESSAGES: u64 = 20;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SuggestEvent {
    Sources {
        articles: Vec<Citation>,
        source: Source,
    },
    Delta {
        text: String,
    },
    Done {
        text: String,
        usage: Option<Usage>,
    },
    Error {
        code: &'static str,
        message: String,
    },
}

/// The public messages a model may see, oldest first.
pub async fn recent(
    ctx: &AppContext,
    conversation_id: Uuid,
    before_seq: i64,
) -> AppResult<Vec<Message>> {
    Ok(repo::before(
        &ctx.db,
        conversation_id,
        before_seq,
        CONTEXT_MESSAGES,
        false,
    )
    .await?
    .into_iter()
    .map(Message::from)
    .collect())
}

pub fn turns(messages: &[Message]) -> Vec<Turn> {
    messages
        .iter()
        .map(|m| Turn {
            from_customer: m.sender_type == SenderType::Customer,
            text: m.body.clone(),
        })
        .collect()
}

/// What the customer asked most recently (their messages since the last reply).
fn latest_question(messages: &[Message]) -> String {
    let mut parts: Vec<&str> = messages
        .iter()
        .rev()
        .take_while(|m| m.sender_type == SenderType::Customer)
        .map(|m| m.body.as_str())
        .collect();
    if parts.is_empty() {
        parts = messages
            .iter()
            .rev()
            .filter(|m| m.sender_type == SenderType::Customer)
            .take(1)
            .map(|m| m.body.as_str())
            .collect();
    }
    parts.reverse();
    parts.join("\n")
}

fn lines(messages: &[Message]) -> Vec<prompts::Line<'_>> {
    messages
        .iter()
        .map(|m| prompts::Line {
            from_customer: m.sender_type == SenderType::Customer,
            text: &m.body,
        })
        .collect()
}

/// Starts a suggestion; events arrive on the returned channel, `Sources` first.
pub async fn suggest(
    ctx: &AppContext,
    who: &AgentIdentity,
    conversation_id: Uuid,
) -> AppResult<mpsc::Receiver<SuggestEvent>> {
    let conv =
        conversations::service::get_for(&ctx.db, &Actor::Agent(*who), conversation_id).await?;
    // Independent reads, overlapped: the agent waits for the slowest, not the sum.
    let budget = async {
        match &ctx.llm {
            Some(_) => {
                llm::usage::check(
                    &ctx.db,
                    &ctx.settings,
                    conv.account_id,
                    Some(conversation_id),
                )
                .await
            }
            None => Ok(()),
        }
    };
    let (messages, kb, budget) = tokio::join!(
        recent(ctx, conv.id, i64::MAX),
        ctx.kb.get(&ctx.db, conv.account_id),
        budget
    );
    let (messages, kb) = (messages?, kb?);
    let question = latest_question(&messages);
    let r = kb.retrieve(&question, 3);
    let confident = decide::confident(&kb, &r, &question).is_ok();
    let cites: Vec<Citation> = if confident {
        r.hits
            .iter()
            .filter_map(|h| kb.docs().get(h.doc).map(Citation::of))
            .collect()
    } else {
        Vec::new()
    };
    let (tx, rx) = mpsc::channel(64);
    let source = if ctx.llm.is_some() {
        Source::Llm
    } else {
        Source::Offline
    };
    let _ = tx
        .send(SuggestEvent::Sources {
            articles: cites.clone(),
            source,
        })
        .await;
    let ctx = ctx.clone();
    let account_id = conv.account_id;
    tokio::spawn(async move {
        match ctx.llm.clone() {
            Some(llm) => {
                if let Err(e) = budget {
                    let _ = tx.send(unavailable(&e)).await;
                    return;
                }
                let passages = decide::passages(&kb, &r, &cites);
                let req = prompts::suggest_reply(
                    &passages,
                    &lines(&messages),
                    ctx.settings.llm_max_tokens,
                );
                let prompt_estimate: u32 = req
                    .messages
                    .iter()
                    .map(|m| llm::estimate_tokens(&m.content))
                    .sum();
                let model = llm.model().to_string();
                let (text, usage) = stream_model(llm.as_ref(), req, &tx).await;
                let usage = usage.or_else(|| {
                    text.as_ref().map(|t| Usage {
                        prompt_tokens: prompt_estimate,
                        completion_tokens: llm::estimate_tokens(t),
                    })
                });
                if let Some(u) = usage {
                    llm::usage::record(
                        &ctx.db,
                        account_id,
                        Some(conversation_id),
                        "suggest",
                        &model,
                        u,
                    )
                    .await;
                }
            }
            None => offline_draft(&kb, &question, &r, confident, &tx).await,
        }
    });
    Ok(rx)
}

fn unavailable(e: &llm::LlmError) -> SuggestEvent {
    SuggestEvent::Error {
        code: "suggestion_unavailable",
        message: format!("Suggestion unavailable: {e}"),
    }
}

/// Relays the model's tokens; returns the full text (None on failure) and reported usage.
async fn stream_model(
    llm: &dyn llm::LlmClient,
    req: llm::ChatRequest,
    tx: &mpsc::Sender<SuggestEvent>,
) -> (Option<String>, Option<Usage>) {
    let mut stream = match llm.stream(req).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(unavailable(&e)).await;
            return (None, None);
        }
    };
    let mut text = String::new();
    let mut usage = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(StreamItem::Delta(d)) => {
                text.push_str(&d);
                if tx.send(SuggestEvent::Delta { text: d }).await.is_err() {
                    // The agent went away: dropping the stream cancels the request.
                    return (Some(text), usage);
                }
            }
            Ok(StreamItem::Usage(u)) => usage = Some(u),
            Err(e) => {
                let _ = tx.send(unavailable(&e)).await;
                return (Some(text), usage);
            }
        }
    }
    let _ = tx
        .send(SuggestEvent::Done {
            text: text.clone(),
            usage,
        })
        .await;
    (Some(text), usage)
}

/// The offline draft: the extractive answer, or a holding reply when the KB has nothing.
async fn offline_draft(
    kb: &KbIndex,
    question: &str,
    r: &crate::kb::Retrieval,
    confident: bool,
    tx: &mpsc::Sender<SuggestEvent>,
) {
    let body = if confident {
        answer::extract(kb, question, r).0
    } else {
        String::new()
    };
    let text = if body.is_empty() {
        "Thanks for getting in touch! Let me look into this for you and get back to you shortly."
            .to_string()
    } else {
        format!("Thanks for reaching out! {body}")
    };
    let mut sent = String::new();
    for (i, word) in text.split_inclusive(' ').enumerate() {
        sent.push_str(word);
        if tx
            .send(SuggestEvent::Delta {
                text: word.to_string(),
            })
            .await
            .is_err()
        {
            return;
        }
        if i % 8 == 7 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let _ = tx
        .send(SuggestEvent::Done {
            text: sent,
            usage: None,
        })
        .await;
}

#[derive(Clone, Debug, Serialize)]
pub struct SummaryView {
    pub summary: String,
    pub source: Source,
}

/// The offline summary: what the customer first asked, what they said last, where it stands.
pub fn offline_summary(messages: &[Message]) -> String {
    let customer: Vec<&Message> = messages
        .iter()
        .filter(|m| m.sender_type == SenderType::Customer)
        .collect();
    let short = |s: &str| {
        let t: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
        if t.chars().count() > 200 {
            format!("{}…", t.chars().take(200).collect::<String>())
        } else {
            t
        }
    };
    let mut out = String::new();
    match (customer.first(), customer.last()) {
        (Some(f), Some(l)) if f.id != l.id => {
            out.push_str(&format!(
                "The customer asked: \"{}\". Latest from the customer: \"{}\".",
                short(&f.body),
                short(&l.body)
            ));
        }
        (Some(f), _) => out.push_str(&format!("The customer asked: \"{}\".", short(&f.body))),
        _ => out.push_str("The customer has not written yet."),
    }
    let replies = messages
        .iter()
        .filter(|m| m.sender_type != SenderType::Customer)
        .count();
    out.push_str(&format!(
        " {} message(s) in all, {} from the customer, {} from support.",
        messages.len(),
        customer.len(),
        replies
    ));
    out
}

pub async fn summarize(
    ctx: &AppContext,
    who: &AgentIdentity,
    conversation_id: Uuid,
) -> AppResult<SummaryView> {
    let conv =
        conversations::service::get_for(&ctx.db, &Actor::Agent(*who), conversation_id).await?;
    let messages = recent(ctx, conv.id, i64::MAX).await?;
    if let Some(llm) = ctx.llm.clone()
        && !messages.is_empty()
    {
        let res =
            match llm::usage::check(&ctx.db, &ctx.settings, conv.account_id, Some(conv.id)).await {
                Ok(()) => llm.complete(prompts::summary(&lines(&messages), 200)).await,
                Err(e) => Err(e),
            };
        match res {
            Ok(c) if !c.text.trim().is_empty() => {
                let u = c.usage.unwrap_or(Usage {
                    prompt_tokens: 0,
                    completion_tokens: llm::estimate_tokens(&c.text),
                });
                llm::usage::record(
                    &ctx.db,
                    conv.account_id,
                    Some(conv.id),
                    "summary",
                    llm.model(),
                    u,
                )
                .await;
                return Ok(SummaryView {
                    summary: super::safety::clean_output(&c.text, &[]),
                    source: Source::Llm,
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "summary model call failed; using the offline summary")
            }
        }
    }
    Ok(SummaryView {
        summary: offline_summary(&messages),
        source: Source::Offline,
    })
}
