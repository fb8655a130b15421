//! `switchboard-bench search`: transcript search at a million messages. Generates a
//! deterministic synthetic corpus (see `corpus`), indexes it with the search engine (tantivy,
//! `crate::search`), and times a fixed query mix (see `queries`) as users get it: the whole
//! search call, first page of 20 conversations with snippets and the total. In the same run the
//! same logical queries go to SQLite FTS5 and to PostgreSQL (`ILIKE`, Chatwoot's approach, and a
//! `tsvector` column with a GIN index) over the same corpus, and the ratios are printed next to
//! the targets of issue 5. See docs/benchmarks.md.
mod corpus;
mod engine;
mod fts5;
mod pg;
mod queries;

use std::{future::Future, time::Instant};

use serde::Serialize;

use self::{
    corpus::{Corpus, Spec},
    queries::BenchQuery,
};
use super::stats::{Summary, micros};
use switchboard::config::Settings;

/// Conversations per result page, as the search API returns them.
pub const PAGE: usize = 20;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Messages in the synthetic corpus.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: usize,
    /// Conversations they are spread over (1 to 2×average messages each).
    #[arg(long, default_value_t = 100_000)]
    pub conversations: usize,
    /// Timed runs of every query of the mix, per engine, after one warm-up run of each.
    #[arg(long, default_value_t = 20)]
    pub queries: usize,
    /// Timed runs of every query with `ILIKE` (each one reads the whole table).
    #[arg(long, default_value_t = 3)]
    pub ilike_queries: usize,
    /// Seed of the corpus generator: the same seed and sizes give the same corpus.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// PostgreSQL server for the `ILIKE` and `tsvector` runs: a fresh
    /// `sb_bench_search_<random>` database is created there and dropped at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// Leave PostgreSQL out (no `ILIKE` or `tsvector` figures).
    #[arg(long)]
    pub skip_postgres: bool,
    /// Leave SQLite FTS5 out.
    #[arg(long)]
    pub skip_fts5: bool,
    /// Print one JSON object on the last line (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

pub fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("bench: {msg}");
}

/// Timings of one engine over the mix.
pub struct EngineRun {
    pub per_query: Vec<QueryRun>,
    /// All timed runs of all queries together.
    pub all: Summary,
}

pub struct QueryRun {
    pub summary: Summary,
    /// Conversations that match (the engine's total, or a separate untimed count in SQL).
    pub hits: u64,
}

/// What one timed call returns: conversations on the page, and the total if the engine gives it.
pub type Outcome = (usize, Option<u64>);

fn summarize(samples: Vec<Vec<u32>>, outcomes: Vec<Outcome>, hits: Vec<Option<u64>>) -> EngineRun {
    let mut all: Vec<u32> = samples.iter().flatten().copied().collect();
    let per_query = samples
        .into_iter()
        .zip(outcomes)
        .zip(hits)
        .map(|((mut s, (page, total)), h)| QueryRun {
            summary: Summary::of_micros(&mut s),
            hits: h.or(total).unwrap_or(page as u64),
        })
        .collect();
    EngineRun {
        per_query,
        all: Summary::of_micros(&mut all),
    }
}

/// One warm-up round over the mix, then `reps` timed rounds (query 1, 2, …, n, 1, 2, …).
pub async fn measure_async<F, Fut>(
    queries: &[BenchQuery],
    reps: usize,
    hits: Vec<u64>,
    mut f: F,
) -> anyhow::Result<EngineRun>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let n = queries.len();
    let mut outcomes = Vec::with_capacity(n);
    for i in 0..n {
        outcomes.push((f(i).await?, None));
    }
    let mut samples = vec![Vec::with_capacity(reps); n];
    for _ in 0..reps {
        for (i, s) in samples.iter_mut().enumerate() {
            let t = Instant::now();
            f(i).await?;
            s.push(micros(t.elapsed()));
        }
    }
    Ok(summarize(
        samples,
        outcomes,
        hits.into_iter().map(Some).collect(),
    ))
}

/// [`measure_async`] for a blocking engine; the totals come from the warm-up round.
pub fn measure_sync<F>(queries: &[BenchQuery], reps: usize, mut f: F) -> anyhow::Result<EngineRun>
where
    F: FnMut(usize) -> anyhow::Result<Outcome>,
{
    let n = queries.len();
    let mut outcomes = Vec::with_capacity(n);
    for i in 0..n {
        outcomes.push(f(i)?);
    }
    let mut samples = vec![Vec::with_capacity(reps); n];
    for _ in 0..reps {
        for (i, s) in samples.iter_mut().enumerate() {
            let t = Instant::now();
            f(i)?;
            s.push(micros(t.elapsed()));
        }
    }
    Ok(summarize(samples, outcomes, vec![None; n]))
}

/// Per query of the mix, every engine's figures.
#[derive(Serialize)]
struct PerQuery {
    kind: &'static str,
    query: String,
    tantivy_p50_ms: f64,
    tantivy_p99_ms: f64,
    tantivy_hits: u64,
    tantivy_no_snippets_p50_ms: f64,
    fts5_p50_ms: Option<f64>,
    fts5_p99_ms: Option<f64>,
    fts5_hits: Option<u64>,
    tsvector_p50_ms: Option<f64>,
    tsvector_p99_ms: Option<f64>,
    tsvector_hits: Option<u64>,
    ilike_p50_ms: Option<f64>,
    ilike_p99_ms: Option<f64>,
    ilike_hits: Option<u64>,
}

#[derive(Serialize)]
struct Targets {
    /// Indexing 1,000,000 messages in at most 60 s (None for another corpus size).
    index_1m_60s: Option<bool>,
    query_p99_50ms: bool,
    ilike_50x_p50: Option<bool>,
    fts5_not_slower_p50: Option<bool>,
}

/// Everything the run measured; `--json` prints exactly this.
#[derive(Serialize)]
struct Report {
    messages: usize,
    conversations: usize,
    seed: u64,
    cpus: usize,
    /// Bytes of message text in the corpus.
    text_bytes: u64,
    corpus_s: f64,
    /// Timed runs per query (ILIKE: `ilike_runs_per_query`).
    runs_per_query: usize,
    ilike_runs_per_query: usize,
    queries: usize,
    /// Adding every conversation to the bulk writer and committing.
    index_s: f64,
    /// Waiting for the background merges after the commit (not in `index_s`).
    merge_s: f64,
    index_bytes: u64,
    index_segments: usize,
    query_p50_ms: f64,
    query_p90_ms: f64,
    query_p99_ms: f64,
    query_max_ms: f64,
    /// The same tantivy queries without message snippets (what snippets cost).
    query_no_snippets_p50_ms: f64,
    query_no_snippets_p99_ms: f64,
    /// The mix's first query as the first search on a fresh reader (as after each commit).
    first_query_after_commit_p50_ms: f64,
    first_query_after_commit_p99_ms: f64,
    fts5_load_s: Option<f64>,
    fts5_index_s: Option<f64>,
    fts5_index_bytes: Option<u64>,
    fts5_db_bytes: Option<u64>,
    fts5_p50_ms: Option<f64>,
    fts5_p99_ms: Option<f64>,
    pg_load_s: Option<f64>,
    pg_tsvector_build_s: Option<f64>,
    pg_table_bytes: Option<u64>,
    pg_gin_bytes: Option<u64>,
    ilike_p50_ms: Option<f64>,
    ilike_p99_ms: Option<f64>,
    tsvector_p50_ms: Option<f64>,
    tsvector_p99_ms: Option<f64>,
    /// Other engine's p50 ÷ tantivy's p50 (how many times faster tantivy is).
    ilike_over_tantivy_p50: Option<f64>,
    fts5_over_tantivy_p50: Option<f64>,
    tsvector_over_tantivy_p50: Option<f64>,
    ilike_over_tantivy_p99: Option<f64>,
    fts5_over_tantivy_p99: Option<f64>,
    tsvector_over_tantivy_p99: Option<f64>,
    targets: Targets,
    per_query: Vec<PerQuery>,
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.queries >= 1 && a.ilike_queries >= 1,
        "--queries and --ilike-queries must be at least 1"
    );
    let spec = Spec {
        messages: a.messages,
        conversations: a.conversations,
        seed: a.seed,
    };
    let corpus = Corpus::new(spec)?;
    let mix = queries::mix(&corpus);
    let dir = tempfile::Builder::new()
        .prefix("sb-bench-search-")
        .tempdir()?;

    progress(format_args!(
        "corpus: {} messages in {} conversations (seed {})",
        spec.messages, spec.conversations, spec.seed
    ));
    let tantivy = engine::run(dir.path(), &corpus, &mix, a.queries).await?;

    let fts5 = if a.skip_fts5 {
        None
    } else {
        Some(fts5::run(dir.path(), &corpus, &mix, a.queries).await?)
    };
    let pg = if a.skip_postgres {
        None
    } else {
        Some(
            pg::run(
                &settings,
                &a.database_url,
                &corpus,
                &mix,
                a.queries,
                a.ilike_queries,
            )
            .await?,
        )
    };
    drop(dir);

    let t = &tantivy.run;
    let ratio = |other: Option<f64>, base: f64| other.map(|o| o / base.max(0.001));
    let fts5_p50 = fts5.as_ref().map(|f| f.run.all.p50_ms);
    let fts5_p99 = fts5.as_ref().map(|f| f.run.all.p99_ms);
    let ilike_p50 = pg.as_ref().map(|p| p.ilike.all.p50_ms);
    let ilike_p99 = pg.as_ref().map(|p| p.ilike.all.p99_ms);
    let ts_p50 = pg.as_ref().map(|p| p.tsvector.all.p50_ms);
    let ts_p99 = pg.as_ref().map(|p| p.tsvector.all.p99_ms);
    let per_query = mix
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let f = fts5.as_ref().map(|f| &f.run.per_query[i]);
            let ts = pg.as_ref().map(|p| &p.tsvector.per_query[i]);
            let il = pg.as_ref().map(|p| &p.ilike.per_query[i]);
            PerQuery {
                kind: q.kind,
                query: q.text.clone(),
                tantivy_p50_ms: t.per_query[i].summary.p50_ms,
                tantivy_p99_ms: t.per_query[i].summary.p99_ms,
                tantivy_hits: t.per_query[i].hits,
                tantivy_no_snippets_p50_ms: tantivy.no_snippets.per_query[i].summary.p50_ms,
                fts5_p50_ms: f.map(|r| r.summary.p50_ms),
                fts5_p99_ms: f.map(|r| r.summary.p99_ms),
                fts5_hits: f.map(|r| r.hits),
                tsvector_p50_ms: ts.map(|r| r.summary.p50_ms),
                tsvector_p99_ms: ts.map(|r| r.summary.p99_ms),
                tsvector_hits: ts.map(|r| r.hits),
                ilike_p50_ms: il.map(|r| r.summary.p50_ms),
                ilike_p99_ms: il.map(|r| r.summary.p99_ms),
                ilike_hits: il.map(|r| r.hits),
            }
        })
        .collect();
    let report = Report {
        messages: spec.messages,
        conversations: spec.conversations,
        seed: spec.seed,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        text_bytes: tantivy.text_bytes,
        corpus_s: tantivy.corpus_s,
        runs_per_query: a.queries,
        ilike_runs_per_query: a.ilike_queries,
        queries: mix.len(),
        index_s: tantivy.index_s,
        merge_s: tantivy.merge_s,
        index_bytes: tantivy.index_bytes,
        index_segments: tantivy.segments,
        query_p50_ms: t.all.p50_ms,
        query_p90_ms: t.all.p90_ms,
        query_p99_ms: t.all.p99_ms,
        query_max_ms: t.all.max_ms,
        query_no_snippets_p50_ms: tantivy.no_snippets.all.p50_ms,
        query_no_snippets_p99_ms: tantivy.no_snippets.all.p99_ms,
        first_query_after_commit_p50_ms: tantivy.first_after_commit.p50_ms,
        first_query_after_commit_p99_ms: tantivy.first_after_commit.p99_ms,
        fts5_load_s: fts5.as_ref().map(|f| f.load_s),
        fts5_index_s: fts5.as_ref().map(|f| f.index_s),
        fts5_index_bytes: fts5.as_ref().map(|f| f.index_bytes),
        fts5_db_bytes: fts5.as_ref().map(|f| f.db_bytes),
        fts5_p50_ms: fts5_p50,
        fts5_p99_ms: fts5_p99,
        pg_load_s: pg.as_ref().map(|p| p.load_s),
        pg_tsvector_build_s: pg.as_ref().map(|p| p.tsvector_build_s),
        pg_table_bytes: pg.as_ref().map(|p| p.table_bytes),
        pg_gin_bytes: pg.as_ref().map(|p| p.gin_bytes),
        ilike_p50_ms: ilike_p50,
        ilike_p99_ms: ilike_p99,
        tsvector_p50_ms: ts_p50,
        tsvector_p99_ms: ts_p99,
        ilike_over_tantivy_p50: ratio(ilike_p50, t.all.p50_ms),
        fts5_over_tantivy_p50: ratio(fts5_p50, t.all.p50_ms),
        tsvector_over_tantivy_p50: ratio(ts_p50, t.all.p50_ms),
        ilike_over_tantivy_p99: ratio(ilike_p99, t.all.p99_ms),
        fts5_over_tantivy_p99: ratio(fts5_p99, t.all.p99_ms),
        tsvector_over_tantivy_p99: ratio(ts_p99, t.all.p99_ms),
        targets: Targets {
            index_1m_60s: (spec.messages == 1_000_000).then_some(tantivy.index_s <= 60.0),
            query_p99_50ms: t.all.p99_ms <= 50.0,
            ilike_50x_p50: ratio(ilike_p50, t.all.p50_ms).map(|r| r >= 50.0),
            fts5_not_slower_p50: fts5_p50.map(|f| t.all.p50_ms <= f),
        },
        per_query,
    };
    print_report(&report);
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1} s"))
}

fn mb(v: Option<u64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.0} MB", v as f64 / 1e6))
}

fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}×"))
}

fn met(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "not measured",
    }
}

fn print_report(r: &Report) {
    println!(
        "corpus: {} messages in {} conversations (seed {}), {:.0} MB of text, generated in {:.1} s; {} CPUs",
        r.messages,
        r.conversations,
        r.seed,
        r.text_bytes as f64 / 1e6,
        r.corpus_s,
        r.cpus
    );
    println!(
        "queries: {} in the mix, each run once to warm up, then {} times ({} with ILIKE)\n",
        r.queries, r.runs_per_query, r.ilike_runs_per_query
    );
    let rows: [(&str, String, String, String, String); 5] = [
        (
            "build",
            secs(Some(r.index_s)),
            format!("{} + {} index", secs(r.fts5_load_s), secs(r.fts5_index_s)),
            secs(r.pg_tsvector_build_s),
            format!("{} (COPY)", secs(r.pg_load_s)),
        ),
        (
            "size",
            mb(Some(r.index_bytes)),
            format!("{} ({} file)", mb(r.fts5_index_bytes), mb(r.fts5_db_bytes)),
            format!("{} GIN", mb(r.pg_gin_bytes)),
            format!("{} table", mb(r.pg_table_bytes)),
        ),
        (
            "query p50 ms",
            ms(Some(r.query_p50_ms)),
            ms(r.fts5_p50_ms),
            ms(r.tsvector_p50_ms),
            ms(r.ilike_p50_ms),
        ),
        (
            "query p99 ms",
            ms(Some(r.query_p99_ms)),
            ms(r.fts5_p99_ms),
            ms(r.tsvector_p99_ms),
            ms(r.ilike_p99_ms),
        ),
        (
            "p50 ÷ tantivy p50",
            "1×".into(),
            times(r.fts5_over_tantivy_p50),
            times(r.tsvector_over_tantivy_p50),
            times(r.ilike_over_tantivy_p50),
        ),
    ];
    println!(
        "{:<18} {:>12} {:>26} {:>14} {:>16}",
        "", "tantivy", "SQLite FTS5", "PG tsvector", "PG ILIKE"
    );
    for (name, a, b, c, d) in rows {
        println!("{name:<18} {a:>12} {b:>26} {c:>14} {d:>16}");
    }
    println!(
        "\ntantivy: {} segments after a {:.1} s wait for merges; without message snippets p50 {:.2} ms, p99 {:.2} ms",
        r.index_segments, r.merge_s, r.query_no_snippets_p50_ms, r.query_no_snippets_p99_ms
    );
    println!(
        "tantivy: the first query on a fresh reader (as after each commit) p50 {:.2} ms, p99 {:.2} ms",
        r.first_query_after_commit_p50_ms, r.first_query_after_commit_p99_ms
    );
    println!(
        "\nper query: p50 ms (conversations found)\n{:<44} {:>16} {:>16} {:>16} {:>18}",
        "query", "tantivy", "FTS5", "tsvector", "ILIKE"
    );
    let cell = |p: Option<f64>, h: Option<u64>| match (p, h) {
        (Some(p), Some(h)) => format!("{p:.2} ({h})"),
        _ => "–".into(),
    };
    for q in &r.per_query {
        let mut label = format!("{:<9} {}", q.kind, q.query);
        if label.chars().count() > 44 {
            label = label.chars().take(43).collect::<String>() + "…";
        }
        println!(
            "{label:<44} {:>16} {:>16} {:>16} {:>18}",
            cell(Some(q.tantivy_p50_ms), Some(q.tantivy_hits)),
            cell(q.fts5_p50_ms, q.fts5_hits),
            cell(q.tsvector_p50_ms, q.tsvector_hits),
            cell(q.ilike_p50_ms, q.ilike_hits),
        );
    }
    let t = &r.targets;
    println!("\ntargets (issue 5):");
    println!(
        "  index 1M messages ≤ 60 s        {:<13} {:.1} s for {} messages",
        met(t.index_1m_60s),
        r.index_s,
        r.messages
    );
    println!(
        "  query p99 ≤ 50 ms               {:<13} {:.2} ms",
        met(Some(t.query_p99_50ms)),
        r.query_p99_ms
    );
    println!(
        "  ≥ 50× faster than ILIKE at p50  {:<13} {}",
        met(t.ilike_50x_p50),
        times(r.ilike_over_tantivy_p50)
    );
    println!(
        "  no slower than FTS5 at p50      {:<13} FTS5 p50 ÷ tantivy p50 = {} (p99: {})",
        met(t.fts5_not_slower_p50),
        times(r.fts5_over_tantivy_p50),
        times(r.fts5_over_tantivy_p99)
    );
}
