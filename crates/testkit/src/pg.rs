//! Scratch PostgreSQL databases: one per test or bench run, created on the server an admin URL
//! names and dropped (`WITH (FORCE)`) at the end. Names carry a prefix (`sb_test_`,
//! `sb_bench_`) so that `.ci/run` can sweep up what a killed run left behind.
use anyhow::Context;
use sea_orm::ConnectionTrait;

/// A database created for one run; [`ScratchDb::drop_database`] removes it.
#[derive(Clone, Debug)]
pub struct ScratchDb {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDb {
    /// Creates `<prefix><random>` on the server of `admin_url` (any database URL on it).
    pub async fn create(admin_url: &str, prefix: &str) -> anyhow::Result<Self> {
        let name = format!("{prefix}{}", uuid::Uuid::new_v4().simple());
        let conn = sea_orm::Database::connect(admin_url)
            .await
            .with_context(|| {
                format!(
                    "connecting to {}",
                    switchboard::config::redact_url(admin_url)
                )
            })?;
        let r = conn
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"));
        let _ = conn.close().await;
        r?;
        Ok(Self {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
        })
    }

    /// The URL of the new database (the admin URL with its database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop_database(&self) -> anyhow::Result<()> {
        drop_named(&self.admin_url, &self.name).await
    }
}

/// Drops database `name` on the server of `admin_url` (gone already is fine).
pub async fn drop_named(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let conn = sea_orm::Database::connect(admin_url)
        .await
        .with_context(|| {
            format!(
                "connecting to {}",
                switchboard::config::redact_url(admin_url)
            )
        })?;
    let r = conn
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let _ = conn.close().await;
    r.with_context(|| format!("dropping database {name}"))?;
    Ok(())
}

/// The database name of a PostgreSQL URL (`postgres://u@h/NAME?x=y` → `NAME`).
pub fn database_name(url: &str) -> Option<&str> {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    let after_scheme = base.find("://").map_or(base, |i| &base[i + 3..]);
    after_scheme
        .split_once('/')
        .map(|(_, name)| name)
        .filter(|n| !n.is_empty())
}

/// `postgres://u@h:5432/postgres?x=y` with the database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let auth_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[auth_start..].find('/') {
        Some(i) => &base[..auth_start + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_replaced_and_read_back() {
        let u = with_database("postgres://p@h:5432/postgres?host=/run/pg", "sb_x");
        assert_eq!(u, "postgres://p@h:5432/sb_x?host=/run/pg");
        assert_eq!(database_name(&u), Some("sb_x"));
        assert_eq!(with_database("postgres://p@h", "d"), "postgres://p@h/d");
        assert_eq!(database_name("postgres://p@h"), None);
    }
}
