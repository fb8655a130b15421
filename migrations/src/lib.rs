//! Database migrations for Switchboard. Append-only: every file is one migration, named by date,
//! and the same statements run unchanged on SQLite and PostgreSQL.
pub use sea_orm_migration::prelude::*;

mod m20261127_000001_init;
mod m20261128_000001_dashboard;
mod m20261128_000002_search;
mod m20261128_000003_ai;
mod m20261128_000004_cluster;
mod m20261204_000001_identity_epoch;
mod m20261205_000001_bot_shadow;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_init::Migration),
            Box::new(m20261128_000001_dashboard::Migration),
            Box::new(m20261128_000002_search::Migration),
            Box::new(m20261128_000003_ai::Migration),
            Box::new(m20261128_000004_cluster::Migration),
            Box::new(m20261204_000001_identity_epoch::Migration),
            Box::new(m20261205_000001_bot_shadow::Migration),
        ]
    }
}
