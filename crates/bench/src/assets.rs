//! `switchboard-bench assets`: what a website visitor's browser downloads for the widget before
//! the panel opens (the loader) and for an open chat (loader + chat panel), and the dashboard's
//! files (each ES module, and their total): raw and gzipped (level 6 — what the server sends —
//! and level 9). The built-in copies are measured, i.e. exactly what this binary serves.
use std::io::Write;

use flate2::{Compression, write::GzEncoder};

use switchboard::web::assets;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print one JSON object on the last line.
    #[arg(long)]
    json: bool,
}

fn gz(bytes: &[u8], level: u32) -> anyhow::Result<usize> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
    e.write_all(bytes)?;
    Ok(e.finish()?.len())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let mut sizes = serde_json::Map::new();
    println!(
        "{:<34} {:>9} {:>9} {:>9}",
        "file", "raw", "gzip-6", "gzip-9"
    );
    let mut totals = std::collections::HashMap::new();
    for name in assets::names() {
        let bytes = assets::builtin(name).unwrap_or_default();
        let (g6, g9) = (gz(bytes, 6)?, gz(bytes, 9)?);
        println!("{name:<34} {:>9} {:>9} {:>9}", bytes.len(), g6, g9);
        totals.insert(name, g6);
        sizes.insert(
            name.to_string(),
            serde_json::json!({"raw": bytes.len(), "gzip": g6, "gzip9": g9}),
        );
    }
    let loader = totals.get("widget.js").copied().unwrap_or(0);
    let chat = loader + totals.get("widget-chat.js").copied().unwrap_or(0);
    let dashboard: usize = totals
        .iter()
        .filter(|(n, _)| n.starts_with("dashboard"))
        .map(|(_, g)| g)
        .sum();
    println!("\ndashboard (every module + CSS, gzipped one by one): {dashboard} B");
    println!("widget before the panel opens (loader): {loader} B gzipped (budget 15,360)");
    println!("widget with an open chat (loader + panel): {chat} B gzipped (budget 40,960)");
    if a.json {
        sizes.insert("widget_initial_gzip".into(), loader.into());
        sizes.insert("widget_open_gzip".into(), chat.into());
        sizes.insert("dashboard_gzip".into(), dashboard.into());
        println!("{}", serde_json::Value::Object(sizes));
    }
    Ok(())
}
