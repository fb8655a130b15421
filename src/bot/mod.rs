//! The first-line bot and agent assistance. `decide` is one decision for a customer message
//! (guardrail `rules`, KB retrieval, the model's structured decision or the offline extractive
//! `answer`), `safety` cleans what is shown, `runner` is the event listener that answers
//! customers exactly once per message and hands off, `assist` drafts replies and summaries
//! for agents, `shadow` drafts without sending (shadow mode) and measures the drafts against
//! the agents' verdicts, `eval` scores all of it on a question set.
pub mod answer;
pub mod assist;
pub mod decide;
pub mod eval;
pub mod grounding;
pub mod intent;
pub mod preview;
pub mod rules;
pub mod runner;
pub mod safety;
pub mod shadow;
pub mod turn;
