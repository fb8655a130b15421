//! One decision of the first-line bot for the customer's latest message: answer from the KB
//! (with citations) or hand off (with a reason). The same function serves the live bot and
//! `switchboard eval`. Order: turn limit → injection stripping → requests for other customers'
//! data or staff powers → the intent (by meaning with the sentence model, else the lexical
//! rules) → retrieval confidence per request → the model's structured decision, whose figures
//! must be grounded in its passages (or, offline, an extractive answer). Any model failure
//! hands off.
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{
    answer::{self, Citation},
    grounding,
    intent::{Intent, IntentModel},
    rules::{self, HandoffReason},
    safety,
};
use crate::{
    kb::{Fused, KbIndex, Retrieval},
    llm::{LlmClient, Usage, prompts},
};

/// Retrieval must reach this BM25 score…
pub const MIN_SCORE: f32 = 6.0;
/// …and the best article must contain this share of the question's words.
pub const MIN_COVERAGE: f32 = 0.2;

#[derive(Clone, Debug)]
pub struct Turn {
    pub from_customer: bool,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Offline,
    Llm,
}

#[derive(Clone, Debug, Serialize)]
pub struct Decision {
    /// None = answer.
    pub handoff: Option<HandoffReason>,
    /// The answer, or the message that tells the customer a person takes over.
    pub text: String,
    pub citations: Vec<Citation>,
    /// Slugs of the top retrieved articles (best first), for agents and for evaluation.
    pub retrieved: Vec<String>,
    pub source: Source,
    pub usage: Option<Usage>,
    /// The message tried to steer the assistant.
    pub injection: bool,
    /// The intent the sentence model read (None: no model, the lexical rules decided).
    pub intent: Option<Intent>,
    /// Retrieval's best article score and question coverage (diagnostics).
    pub top_score: f32,
    pub top_coverage: f32,
}

pub const HANDOFF_MESSAGE: &str = "I'm passing this to a member of our team so they can help you properly. They'll reply right here in this chat.";
pub const SECURITY_NOTE: &str = " Please don't share passwords or codes in this chat.";
pub const REFUSAL: &str = "I can only help with questions about our product and your own account, using our help articles. Is there something about the product I can help you with?";

/// How confident retrieval is that the KB answers `question`.
pub fn confident(kb: &KbIndex, r: &Retrieval, question: &str) -> Result<(), HandoffReason> {
    let Some(top) = r.hits.first() else {
        return Err(HandoffReason::NotConfident);
    };
    if let Some(feature) = rules::feature_question(question) {
        // "Do you have X?" where X holds a word the KB never uses: not covered.
        let words = kb.question_terms(&feature);
        if r.unknown.iter().any(|u| words.contains(u)) {
            return Err(HandoffReason::NotCovered);
        }
    }
    if top.score < MIN_SCORE || top.coverage < MIN_COVERAGE {
        return Err(HandoffReason::NotConfident);
    }
    Ok(())
}

fn handoff(reason: HandoffReason, retrieved: Vec<String>, injection: bool) -> Decision {
    let mut text = HANDOFF_MESSAGE.to_string();
    if reason == HandoffReason::SecurityIncident {
        text.push_str(SECURITY_NOTE);
    }
    Decision {
        handoff: Some(reason),
        text,
        citations: Vec::new(),
        retrieved,
        source: Source::Offline,
        usage: None,
        injection,
        intent: None,
        top_score: 0.0,
        top_coverage: 0.0,
    }
}

/// Retrieval for the latest customer message: per request when it asks several things; a short
/// follow-up is read together with the customer's message before it.
pub fn retrieve(kb: &KbIndex, question: &str, history: &[Turn]) -> Fused {
    let fused = kb.retrieve_requests(question, 5, |q, r| confident(kb, r, q).is_ok());
    if fused.requests.len() > 1 {
        return fused;
    }
    let words = question.split_whitespace().count();
    match history.iter().rev().find(|t| t.from_customer) {
        Some(prev) if words <= 6 => {
            let r = kb.retrieve(&format!("{question} {}", prev.text), 5);
            Fused {
                requests: vec![(question.to_string(), r.clone())],
                all: r,
            }
        }
        _ => fused,
    }
}

/// Whether the KB answers the message: each request judged on its own retrieval, and the
/// message is answered when at least one request is (the others are answered as far as the KB
/// goes; a message with one request needs that one).
fn answerable(kb: &KbIndex, fused: &Fused) -> Result<(), HandoffReason> {
    let mut first_err = None;
    for (q, r) in &fused.requests {
        match confident(kb, r, q) {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or(HandoffReason::NotConfident))
}

#[derive(Deserialize)]
struct ModelDecision {
    action: String,
    #[serde(default)]
    answer: String,
    #[serde(default)]
    cited_article_ids: Vec<String>,
}

pub struct DecideInput<'a> {
    pub question: &'a str,
    /// Earlier messages of the conversation, oldest first (without `question`).
    pub history: &'a [Turn],
    pub bot_turns: i32,
    pub max_turns: i32,
    /// Hosts links may point to (the KB's article hosts are always allowed).
    pub allowed_hosts: &'a [String],
    pub max_tokens: u32,
    /// The sentence model's intents; None: the lexical rules decide.
    pub intents: Option<Arc<IntentModel>>,
}

/// Why the message must go to a person, if it must: by meaning when the sentence model is
/// there (with the lexical rules for the reasons they are precise about), else by the rules.
async fn must_hand_off(
    intents: Option<&Arc<IntentModel>>,
    clean: &str,
) -> (Option<HandoffReason>, Option<Intent>) {
    let lexical = rules::must_hand_off(clean);
    let Some(model) = intents.cloned() else {
        return (lexical, None);
    };
    let text = clean.to_string();
    let read = tokio::task::spawn_blocking(move || model.read(&text)).await;
    match read {
        Ok(Ok(reading)) => (reading.intent.handoff().or(lexical), Some(reading.intent)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "intent model failed; the lexical rules decide");
            (lexical, None)
        }
        Err(e) => {
            tracing::warn!(error = %e, "intent model task failed; the lexical rules decide");
            (lexical, None)
        }
    }
}

pub async fn decide(kb: &KbIndex, llm: Option<&dyn LlmClient>, input: DecideInput<'_>) -> Decision {
    let injection = rules::is_injection(input.question);
    let clean = if injection {
        rules::without_injection(input.question)
    } else {
        input.question.to_string()
    };
    let fused = retrieve(kb, &clean, input.history);
    let mut d = decide_on(kb, llm, &input, &clean, &fused, injection).await;
    if let Some(h) = fused.all.hits.first() {
        d.top_score = h.score;
        d.top_coverage = h.coverage;
    }
    d
}

/// An answer (no handoff) from `source`.
fn answered(
    text: String,
    citations: Vec<Citation>,
    retrieved: Vec<String>,
    source: Source,
    injection: bool,
) -> Decision {
    Decision {
        handoff: None,
        text,
        citations,
        retrieved,
        source,
        usage: None,
        injection,
        intent: None,
        top_score: 0.0,
        top_coverage: 0.0,
    }
}

/// The decision for `clean` (the question without injection sentences), given its retrieval.
async fn decide_on(
    kb: &KbIndex,
    llm: Option<&dyn LlmClient>,
    input: &DecideInput<'_>,
    clean: &str,
    fused: &Fused,
    injection: bool,
) -> Decision {
    let r = &fused.all;
    let retrieved: Vec<String> = r
        .hits
        .iter()
        .filter_map(|h| kb.docs().get(h.doc).map(|d| d.slug.clone()))
        .collect();
    if input.bot_turns >= input.max_turns {
        return handoff(HandoffReason::TurnLimit, retrieved, injection);
    }
    if rules::out_of_bounds(input.question) {
        return handoff(HandoffReason::OutOfBounds, retrieved, injection);
    }
    let (reason, intent) = must_hand_off(input.intents.as_ref(), clean).await;
    // A worried "is this normal?" that an article explains is answered with that article.
    let explained = |r: HandoffReason| {
        matches!(
            r,
            HandoffReason::SecurityIncident
                | HandoffReason::AngerOrLegal
                | HandoffReason::BugReport
        ) && rules::asks_if_normal(clean)
            && answerable(kb, fused).is_ok()
    };
    if let Some(reason) = reason.filter(|r| !explained(*r)) {
        let mut d = handoff(reason, retrieved, injection);
        d.intent = intent;
        return d;
    }
    let mut d = answer_or_not(kb, llm, input, clean, fused, retrieved, injection).await;
    d.intent = intent;
    d
}

/// The KB's answer to a message no rule or intent sends to a person, or the handoff when the KB
/// does not answer it.
async fn answer_or_not(
    kb: &KbIndex,
    llm: Option<&dyn LlmClient>,
    input: &DecideInput<'_>,
    clean: &str,
    fused: &Fused,
    retrieved: Vec<String>,
    injection: bool,
) -> Decision {
    let r = &fused.all;
    if let Err(reason) = answerable(kb, fused) {
        if injection {
            // Nothing legitimate left to answer: decline, stay in the chat.
            return answered(
                REFUSAL.into(),
                Vec::new(),
                retrieved,
                Source::Offline,
                injection,
            );
        }
        return handoff(reason, retrieved, injection);
    }
    match llm {
        None => extractive(kb, input, clean, fused, retrieved, injection),
        Some(llm) => {
            let cites: Vec<Citation> = r
                .hits
                .iter()
                .take(3)
                .filter_map(|h| kb.docs().get(h.doc).map(Citation::of))
                .collect();
            let passages = passages(kb, r, &cites);
            let given: Vec<&str> = passages.iter().map(|p| p.text).collect();
            let mut lines: Vec<prompts::Line<'_>> = input
                .history
                .iter()
                .map(|t| prompts::Line {
                    from_customer: t.from_customer,
                    text: &t.text,
                })
                .collect();
            lines.push(prompts::Line {
                from_customer: true,
                text: clean,
            });
            let req = prompts::bot_decision(&passages, &lines, input.max_tokens);
            let prompt_estimate: u32 = req
                .messages
                .iter()
                .map(|m| crate::llm::estimate_tokens(&m.content))
                .sum();
            match llm.complete(req).await {
                Ok(c) => {
                    let usage = c.usage.unwrap_or(Usage {
                        prompt_tokens: prompt_estimate,
                        completion_tokens: crate::llm::estimate_tokens(&c.text),
                    });
                    let mut d = model_decision(
                        kb,
                        &c.text,
                        &cites,
                        input.allowed_hosts,
                        retrieved.clone(),
                        injection,
                    )
                    .unwrap_or_else(|| {
                        handoff(HandoffReason::ModelFailure, retrieved.clone(), injection)
                    });
                    // Whether a person is needed was decided above (rules, intents, the KB):
                    // a model that hands off a question the KB answers is overruled by the
                    // extractive answer, so its handoffs are never worse than offline.
                    if d.handoff == Some(HandoffReason::ModelDecision) {
                        let mut e = extractive(kb, input, clean, fused, retrieved, injection);
                        e.usage = Some(usage);
                        return e;
                    }
                    let ungrounded = grounding::unsupported(&d.text, &given);
                    let echo = grounding::echoes_customer(&d.text, input.question, &given);
                    if d.handoff.is_none() && (!ungrounded.is_empty() || echo) {
                        tracing::info!(
                            ?ungrounded,
                            echo,
                            "the model's answer states what its passages do not; answering extractively"
                        );
                        d = extractive(kb, input, clean, fused, retrieved, injection);
                    } else {
                        d.source = Source::Llm;
                    }
                    d.usage = Some(usage);
                    d
                }
                Err(e) => {
                    tracing::warn!(error = %e, "bot model call failed; handing off");
                    let mut d = handoff(HandoffReason::ModelFailure, retrieved, injection);
                    d.source = Source::Llm;
                    d
                }
            }
        }
    }
}

/// The offline responder's answer: sentences copied from the KB, or a handoff when none fit.
fn extractive(
    kb: &KbIndex,
    input: &DecideInput<'_>,
    clean: &str,
    fused: &Fused,
    retrieved: Vec<String>,
    injection: bool,
) -> Decision {
    let (text, citations) = answer::extract_requests(kb, clean, fused);
    if text.is_empty() {
        return handoff(HandoffReason::NotConfident, retrieved, injection);
    }
    let text = safety::clean_output(&text, &allowed(kb, input.allowed_hosts));
    answered(text, citations, retrieved, Source::Offline, injection)
}

fn allowed(kb: &KbIndex, extra: &[String]) -> Vec<String> {
    let mut hosts: Vec<String> = extra.to_vec();
    for d in kb.docs() {
        if let Some(h) = d.url.as_deref().and_then(crate::urls::link_host) {
            hosts.push(h);
        }
    }
    hosts
}

/// The top passages (best section of each cited article) as the model sees them.
pub fn passages<'a>(
    kb: &'a KbIndex,
    r: &Retrieval,
    cites: &'a [Citation],
) -> Vec<prompts::Passage<'a>> {
    let mut out = Vec::new();
    for (h, c) in r.hits.iter().zip(cites) {
        let Some(d) = kb.docs().get(h.doc) else {
            continue;
        };
        for (sec, _) in h.sections.iter().take(2) {
            if let Some(s) = d.sections.get(*sec) {
                out.push(prompts::Passage {
                    slug: &c.slug,
                    title: &c.title,
                    heading: &s.heading,
                    text: &s.text,
                });
            }
        }
    }
    out
}

fn model_decision(
    kb: &KbIndex,
    raw: &str,
    cites: &[Citation],
    hosts: &[String],
    retrieved: Vec<String>,
    injection: bool,
) -> Option<Decision> {
    let json = raw
        .trim()
        .trim_start_matches("```json")
        .trim_start_matches("```")
        .trim_end_matches("```");
    let m: ModelDecision = serde_json::from_str(json.trim()).ok()?;
    match m.action.as_str() {
        "handoff" => Some(handoff(HandoffReason::ModelDecision, retrieved, injection)),
        "answer" => {
            let text = safety::clean_output(&m.answer, &allowed(kb, hosts));
            if text.trim().is_empty() || safety::leaks_instructions(&text) {
                return None;
            }
            // Only articles that were actually given to the model can be cited.
            let used: Vec<Citation> = cites
                .iter()
                .filter(|c| {
                    m.cited_article_ids
                        .iter()
                        .any(|id| id.eq_ignore_ascii_case(&c.slug))
                })
                .cloned()
                .collect();
            Some(answered(
                text,
                if used.is_empty() {
                    cites.iter().take(1).cloned().collect()
                } else {
                    used
                },
                retrieved,
                Source::Llm,
                injection,
            ))
        }
        _ => None,
    }
}
