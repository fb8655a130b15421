//! `switchboard bench messages` (placeholder until the load generator lands).
#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(_a: Args, _s: crate::config::Settings) -> anyhow::Result<()> {
    anyhow::bail!("not yet implemented")
}
