//! `bench messages --nodes 2 --bus nats|redis`: the same load twice in one run, each on its own
//! fresh PostgreSQL database. First on a single node (no bus), then on two nodes linked by the
//! bus: customers on node A, agents on node B, so every delivery crosses the bus. Both reports
//! (and the same verification: nothing lost or duplicated) are printed side by side.
use serde::Serialize;

use super::{
    Args, Report, bench, print_report, progress,
    target::{LocalOptions, Target},
};
use crate::nodes::{self, ClusterLink};
use switchboard::config::Settings;

#[derive(Serialize)]
struct ClusterReport {
    nodes: u8,
    bus: String,
    bus_url: String,
    /// Customers and agents on one node, no bus.
    single: Report,
    /// Customers on node A, agents on node B.
    cluster: Report,
    /// cluster ÷ single.
    ratio: Ratio,
}

#[derive(Serialize)]
struct Ratio {
    msgs_per_s_to_last_ack: f64,
    deliver_p50: f64,
    deliver_p99: f64,
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.url.is_none(),
        "--nodes 2 starts its own two nodes; it cannot be combined with --url"
    );
    let Some(database_url) = a.database_url.clone() else {
        anyhow::bail!(
            "--nodes 2 needs --database-url postgres://… (both nodes share one PostgreSQL \
             database), e.g. --database-url postgres://postgres@127.0.0.1:5432/postgres"
        );
    };
    anyhow::ensure!(
        database_url.starts_with("postgres"),
        "--nodes 2 needs a postgres:// --database-url (both nodes share one database)"
    );
    anyhow::ensure!(
        a.agents >= 1,
        "--nodes 2 needs at least one agent (the agents are on node B)"
    );
    let bus = a.bus.clone().unwrap_or_else(|| "nats".into());
    let bus_url = nodes::bus_url(&bus, a.bus_url.as_deref())?;

    progress(format_args!(
        "1/2: one node (no bus) on a fresh PostgreSQL database"
    ));
    let single = one_run(&a, settings.clone(), &database_url, None).await?;
    progress(format_args!(
        "2/2: two nodes linked by {bus} ({}), customers on A, agents on B, on a fresh database",
        switchboard::config::redact_url(&bus_url)
    ));
    let link = ClusterLink::new(&bus_url)?;
    let mut cluster = one_run(&a, settings, &database_url, Some(link)).await?;
    cluster.server = format!("in-process, 2 nodes via {bus}: customers on A, agents on B");

    let div = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
    let report = ClusterReport {
        nodes: 2,
        ratio: Ratio {
            msgs_per_s_to_last_ack: div(
                cluster.msgs_per_s_to_last_ack,
                single.msgs_per_s_to_last_ack,
            ),
            deliver_p50: div(cluster.deliver_p50_ms, single.deliver_p50_ms),
            deliver_p99: div(cluster.deliver_p99_ms, single.deliver_p99_ms),
        },
        bus,
        bus_url: switchboard::config::redact_url(&bus_url),
        single,
        cluster,
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("=== one node (no bus) ===");
        print_report(&report.single);
        println!();
        println!("=== two nodes via {} ===", report.bus);
        print_report(&report.cluster);
        println!();
        print_side_by_side(&report);
    }
    Ok(())
}

async fn one_run(
    a: &Args,
    settings: Settings,
    database_url: &str,
    cluster: Option<ClusterLink>,
) -> anyhow::Result<Report> {
    let o = LocalOptions {
        database_url: Some(database_url.to_string()),
        sqlite_synchronous: None,
        agents: a.agents,
        cluster,
    };
    let target = Target::local(settings, o).await?;
    let result = bench(a, &target).await;
    if let Err(e) = target.shutdown().await {
        eprintln!("warning: {e:#}");
    }
    result
}

fn print_side_by_side(r: &ClusterReport) {
    let (s, c) = (&r.single, &r.cluster);
    println!(
        "side by side ({} customers, {} agents, {:.1} s, {}):",
        s.customers,
        s.agents,
        s.duration_s,
        match s.window {
            Some(w) => format!("flat out, {w} in flight per customer"),
            None => format!("{} msgs/s offered", s.offered_rate),
        }
    );
    println!(
        "  {:<34} {:>22} {:>22}",
        "",
        "1 node",
        format!("2 nodes via {}", r.bus)
    );
    let row = |name: &str, x: String, y: String| println!("  {name:<34} {x:>22} {y:>22}");
    row(
        "sent / acked",
        format!("{} / {}", s.sent, s.acked),
        format!("{} / {}", c.sent, c.acked),
    );
    row(
        "durable msgs/s",
        format!("{:.0}", s.msgs_per_s),
        format!("{:.0}", c.msgs_per_s),
    );
    row(
        "msgs/s up to the last ack",
        format!("{:.0}", s.msgs_per_s_to_last_ack),
        format!("{:.0}", c.msgs_per_s_to_last_ack),
    );
    row(
        "drained in (s)",
        format!("{:.2}", s.drain_s),
        format!("{:.2}", c.drain_s),
    );
    let ms3 = |a: f64, b: f64, c: f64| format!("{a:.2} / {b:.2} / {c:.2}");
    row(
        "ack p50 / p90 / p99 ms",
        ms3(s.ack_p50_ms, s.ack_p90_ms, s.ack_p99_ms),
        ms3(c.ack_p50_ms, c.ack_p90_ms, c.ack_p99_ms),
    );
    row(
        "deliver p50 / p90 / p99 ms",
        ms3(s.deliver_p50_ms, s.deliver_p90_ms, s.deliver_p99_ms),
        ms3(c.deliver_p50_ms, c.deliver_p90_ms, c.deliver_p99_ms),
    );
    row(
        "deliver max ms",
        format!("{:.2}", s.deliver_max_ms),
        format!("{:.2}", c.deliver_max_ms),
    );
    row(
        "lost / duplicated",
        format!("{} / {}", s.verdict.lost, s.verdict.duplicated),
        format!("{} / {}", c.verdict.lost, c.verdict.duplicated),
    );
    row(
        "msgs per commit",
        format!("{:.1}", s.avg_commit_batch),
        format!("{:.1}", c.avg_commit_batch),
    );
    row(
        "this process, cores busy",
        format!("{:.2}", s.cpu_busy_cores),
        format!("{:.2}", c.cpu_busy_cores),
    );
    let opt = |m: Option<f64>| m.map_or("-".to_string(), |m| format!("{m:.2}"));
    row(
        "whole machine, cores busy",
        opt(s.machine_busy_cores),
        opt(c.machine_busy_cores),
    );
    println!(
        "  cluster ÷ single: msgs/s to last ack {:.2}×, deliver p50 {:.2}×, deliver p99 {:.2}×",
        r.ratio.msgs_per_s_to_last_ack, r.ratio.deliver_p50, r.ratio.deliver_p99
    );
}
