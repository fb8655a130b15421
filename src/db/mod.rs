//! Database connection for both backends. The URL decides: `sqlite://` (embedded default: WAL,
//! `synchronous` from settings, foreign keys on, busy timeout) or `postgres://`. Also runs migrations.
pub mod entities;
mod nodelay;
pub mod private;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr,
    TransactionOptions,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

use crate::config::{Settings, SqliteSync};

pub async fn connect(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let url = settings.database_url();
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(settings.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    // sqlx pings every connection it hands out by default: one more round trip per statement
    // or transaction. A SQLite file does not drop connections; a PostgreSQL connection that sat
    // idle may have been, so only those are pinged.
    if url.starts_with("sqlite:") {
        opts.test_before_acquire(false);
    } else {
        opts.test_before_acquire_if_idle_for(Duration::from_secs(10));
    }
    if url.starts_with("sqlite:") {
        let file = url
            .strip_prefix("sqlite://")
            .map(|p| std::path::Path::new(p.split('?').next().unwrap_or(p)))
            .filter(|p| !p.as_os_str().is_empty() && *p != std::path::Path::new(":memory:"));
        if let Some(file) = file {
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                private::dir(dir)?;
            }
            // Created here, 0600, before SQLite creates it with the umask's mode (and copies
            // that mode to the -wal and -shm files).
            private::file(file)?;
            for suffix in ["-wal", "-shm"] {
                let mut side = file.as_os_str().to_owned();
                side.push(suffix);
                let side = std::path::PathBuf::from(side);
                if side.exists() {
                    private::tighten(&side, 0o600)?;
                }
            }
        }
        let sync = match settings.sqlite_synchronous {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        };
        let cache_kib = settings.sqlite_cache_mb * 1024;
        opts.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sync)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Page cache per connection, in KiB (negative = KiB in SQLite's terms). The 2 MB
                // default makes big group commits evict and re-read pages mid-transaction.
                .pragma("cache_size", format!("-{}", cache_kib))
        });
    }
    if let Some(port) = postgres_tcp_port(&url) {
        opts.map_sqlx_postgres_pool_opts(move |o| {
            o.after_connect(move |_conn, _meta| {
                Box::pin(async move {
                    nodelay::set_on_sockets_to(port);
                    Ok(())
                })
            })
        });
    }
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// The TCP port of a `postgres://` URL (5432 unless given); None for Unix-socket URLs.
fn postgres_tcp_port(url: &str) -> Option<u16> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    if rest.contains("host=/") {
        return None;
    }
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    match host_port.rsplit_once(':') {
        Some((_, p)) if !p.contains(']') => p.parse().ok(),
        _ => Some(5432),
    }
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Options for a transaction that will write: on SQLite take the write lock at BEGIN, so a
/// read-then-write transaction can never fail half-way with a stale snapshot.
pub fn write_txn() -> TransactionOptions {
    TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    }
}

/// Cheap round trip used by `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DatabaseBackend::Postgres
}

#[cfg(test)]
mod tests {
    #[test]
    fn postgres_ports() {
        use super::postgres_tcp_port as p;
        assert_eq!(p("postgres://u:pw@127.0.0.1:6543/db"), Some(6543));
        assert_eq!(p("postgres://localhost/db"), Some(5432));
        assert_eq!(
            p("postgres://u@localhost/db?host=/var/run/postgresql"),
            None
        );
        assert_eq!(p("sqlite://x.db"), None);
    }
}
