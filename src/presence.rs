//! An agent's presence as routing and the admin pages see it. The hub tracks it per socket and
//! across nodes; the wire protocol carries it as this same lower-case string.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceStatus {
    Online,
    Away,
    Offline,
}
