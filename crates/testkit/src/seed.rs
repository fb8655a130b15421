//! Account seeding straight into the database, through the same service functions the API
//! uses: one account, its agents (one shared password) and one inbox. What `spawn_app` and the
//! benches start from.
use sea_orm::ConnectionTrait;
use switchboard::{
    accounts,
    actor::Role,
    db::entities::{account, inbox},
    inboxes,
};

/// One agent to create: email, display name, role.
pub struct NewAgent {
    pub email: String,
    pub name: String,
    pub role: Role,
}

impl NewAgent {
    pub fn new(email: impl Into<String>, name: impl Into<String>, role: Role) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            role,
        }
    }
}

pub struct Seeded {
    pub account: account::Model,
    pub inbox: inbox::Model,
    /// (email, password) per agent, in the order given.
    pub logins: Vec<(String, String)>,
}

/// Creates account `account_name` with `agents` (all with `password`) and an inbox named
/// `inbox_name` that allows any origin.
pub async fn account(
    db: &impl ConnectionTrait,
    account_name: &str,
    agents: &[NewAgent],
    password: &str,
    inbox_name: &str,
) -> anyhow::Result<Seeded> {
    let err = |e: switchboard::error::AppError| anyhow::anyhow!("{e}");
    let account = accounts::service::create_account(db, account_name)
        .await
        .map_err(err)?;
    let mut logins = Vec::with_capacity(agents.len());
    for a in agents {
        accounts::service::create_agent(db, account.id, &a.email, &a.name, password, a.role)
            .await
            .map_err(err)?;
        logins.push((a.email.clone(), password.to_string()));
    }
    let inbox = inboxes::create(db, account.id, inbox_name, &[])
        .await
        .map_err(err)?;
    Ok(Seeded {
        account,
        inbox,
        logins,
    })
}
