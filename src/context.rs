//! `AppContext`: everything a request or task needs, cloned cheaply, passed explicitly (no
//! globals). The one `web::Data` of the server.
use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::Signer, config::Settings, events::Events, limits::Limits, realtime::HubHandle,
    search::SearchIndex, writer::WriterHandle,
};

#[derive(Clone)]
pub struct AppContext {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub signer: Signer,
    pub events: Events,
    pub hub: HubHandle,
    pub writer: WriterHandle,
    pub limits: Arc<Limits>,
    /// The transcript search index (see `search`).
    pub search: SearchIndex,
    /// Knowledge-base retrieval indexes, one per account.
    pub kb: crate::kb::KbIndexes,
    /// The in-process sentence model (intents by meaning), or None: the lexical rules decide.
    pub embedder: Option<crate::embed::Embedder>,
    /// The configured model, or None: the offline responder answers.
    pub llm: Option<crate::llm::SharedLlm>,
    /// Set on SIGTERM: `/readyz` answers 503 so load balancers stop sending new clients.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Whether this node is subscribed to the cluster bus (reported by `/readyz`).
    pub bus_up: Arc<std::sync::atomic::AtomicBool>,
    /// Completed passes of the background loops, for tests to await and `/readyz` to report.
    pub passes: crate::passes::BackgroundPasses,
}
