//! PostgreSQL over the same corpus, in a fresh `sb_bench_search_<random>` database that is
//! dropped at the end:
//! * `bench_message` / `bench_conversation` loaded with `COPY`: what Chatwoot searches with
//!   `body ILIKE '%term%'` (one condition per term), grouped by conversation, newest first;
//! * `bench_message_ts`: the same messages with a generated column
//!   `tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED` and a GIN index,
//!   queried with `plainto_tsquery` / `phraseto_tsquery`, ranked by `ts_rank`, with a
//!   `ts_headline` snippet of each of the 20 conversations' best message. A separate table, so
//!   the `ILIKE` scans read rows of the usual width.
use std::time::Instant;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};

use super::{
    EngineRun, PAGE,
    corpus::Corpus,
    measure_async, progress,
    queries::{BenchQuery, Filter},
};
use switchboard::config::Settings;
use testkit::pg::ScratchDb;

pub struct PgResult {
    /// `COPY` of both tables, primary keys included.
    pub load_s: f64,
    /// Filling `bench_message_ts` (computing the tsvectors) and building its GIN index.
    pub tsvector_build_s: f64,
    /// `bench_message` with its primary key.
    pub table_bytes: u64,
    pub gin_bytes: u64,
    pub ilike: EngineRun,
    pub tsvector: EngineRun,
}

pub async fn run(
    settings: &Settings,
    admin_url: &str,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
    ilike_reps: usize,
) -> anyhow::Result<PgResult> {
    let scratch = ScratchDb::create(admin_url, "sb_bench_search_").await?;
    let name = scratch.name();
    progress(format_args!("PostgreSQL: created database {name}"));
    let mut s = settings.clone();
    s.database_url = scratch.url().to_string();
    let out = match switchboard::db::connect(&s).await {
        Ok(db) => {
            let r = bench(&db, corpus, queries, reps, ilike_reps).await;
            let _ = db.close().await;
            r
        }
        Err(e) => Err(e),
    };
    if let Err(e) = scratch.drop_database().await {
        eprintln!("warning: {e:#} (drop it by hand)");
    }
    out
}

async fn bench(
    db: &DatabaseConnection,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
    ilike_reps: usize,
) -> anyhow::Result<PgResult> {
    db.execute_unprepared(
        "CREATE TABLE bench_conversation (id bigint PRIMARY KEY, status text NOT NULL, \
           tags text[] NOT NULL, contact_email text NOT NULL, updated_at timestamptz NOT NULL);
         CREATE TABLE bench_message (id bigint PRIMARY KEY, conversation_id bigint NOT NULL, \
           private boolean NOT NULL, created_at timestamptz NOT NULL, body text NOT NULL);
         CREATE TABLE bench_message_ts (id bigint PRIMARY KEY, conversation_id bigint NOT NULL, \
           created_at timestamptz NOT NULL, body text NOT NULL, \
           tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED);",
    )
    .await
    .context("creating the PostgreSQL schema")?;

    progress(format_args!(
        "PostgreSQL: COPY of {} messages",
        corpus.spec.messages
    ));
    let t0 = Instant::now();
    copy_corpus(db, corpus).await?;
    db.execute_unprepared(
        "CREATE INDEX ON bench_conversation (contact_email); ANALYZE bench_conversation; \
         ANALYZE bench_message",
    )
    .await?;
    let load_s = t0.elapsed().as_secs_f64();
    progress(format_args!(
        "PostgreSQL: loaded in {load_s:.1} s; computing tsvectors and the GIN index"
    ));
    let t1 = Instant::now();
    db.execute_unprepared(
        "SET maintenance_work_mem = '512MB';
         INSERT INTO bench_message_ts (id, conversation_id, created_at, body)
           SELECT id, conversation_id, created_at, body FROM bench_message;
         CREATE INDEX bench_message_ts_tsv ON bench_message_ts USING gin (tsv);
         ANALYZE bench_message_ts;",
    )
    .await
    .context("building the tsvector table")?;
    let tsvector_build_s = t1.elapsed().as_secs_f64();
    progress(format_args!(
        "PostgreSQL: tsvector table and GIN index in {tsvector_build_s:.1} s"
    ));
    let table_bytes = scalar(db, "SELECT pg_total_relation_size('bench_message')").await? as u64;
    let gin_bytes = scalar(db, "SELECT pg_relation_size('bench_message_ts_tsv')").await? as u64;

    // tsvector first: its reps are cheap; ILIKE scans the table every time.
    let pages: Vec<Statement> = queries.iter().map(tsvector_page).collect();
    let mut hits = Vec::with_capacity(queries.len());
    for q in queries {
        hits.push(scalar_stmt(db, &tsvector_count(q)).await? as u64);
    }
    progress(format_args!(
        "PostgreSQL tsvector: {} queries × {reps} (after one warm-up round)",
        queries.len()
    ));
    let tsvector = measure_async(queries, reps, hits, |i| query(db, &pages[i])).await?;

    let pages: Vec<Statement> = queries.iter().map(ilike_page).collect();
    let mut hits = Vec::with_capacity(queries.len());
    progress(format_args!(
        "PostgreSQL ILIKE: counting matches ({} sequential scans)",
        queries.len()
    ));
    for q in queries {
        hits.push(scalar_stmt(db, &ilike_count(q)).await? as u64);
    }
    progress(format_args!(
        "PostgreSQL ILIKE: {} queries × {ilike_reps} (after one warm-up round)",
        queries.len()
    ));
    let ilike = measure_async(queries, ilike_reps, hits, |i| query(db, &pages[i])).await?;
    Ok(PgResult {
        load_s,
        tsvector_build_s,
        table_bytes,
        gin_bytes,
        ilike,
        tsvector,
    })
}

async fn query(db: &DatabaseConnection, stmt: &Statement) -> anyhow::Result<usize> {
    let rows = db.query_all_raw(stmt.clone()).await?;
    let mut len = 0;
    for r in &rows {
        len += r.try_get_by_index::<String>(2)?.len();
    }
    std::hint::black_box(len);
    Ok(rows.len())
}

/// Both tables with `COPY … FROM STDIN` (text format), 4 MiB per message.
async fn copy_corpus(db: &DatabaseConnection, corpus: &Corpus) -> anyhow::Result<()> {
    const CHUNK: usize = 4 << 20;
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await?;
    let mut convs = String::with_capacity(corpus.len() * 80);
    {
        let mut copy = conn
            .copy_in_raw(
                "COPY bench_message (id, conversation_id, private, created_at, body) FROM STDIN",
            )
            .await
            .context("COPY bench_message")?;
        let mut buf = String::with_capacity(CHUNK + 4096);
        for i in 0..corpus.len() {
            let c = corpus.conversation(i);
            for m in &c.messages {
                buf.push_str(&format!(
                    "{}\t{}\t{}\t{}\t",
                    m.id,
                    c.sql_id(),
                    if m.private { 't' } else { 'f' },
                    m.created_at.to_rfc3339()
                ));
                copy_escape(&mut buf, &m.body);
                buf.push('\n');
            }
            convs.push_str(&format!(
                "{}\t{}\t{{{}}}\t",
                c.sql_id(),
                c.status,
                c.tags.join(",")
            ));
            copy_escape(&mut convs, &c.contact_email);
            convs.push_str(&format!("\t{}\n", c.updated_at.to_rfc3339()));
            if buf.len() >= CHUNK {
                copy.send(std::mem::take(&mut buf).into_bytes()).await?;
                buf.reserve(CHUNK + 4096);
            }
        }
        if !buf.is_empty() {
            copy.send(buf.into_bytes()).await?;
        }
        copy.finish().await.context("COPY bench_message")?;
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY bench_conversation (id, status, tags, contact_email, updated_at) FROM STDIN",
        )
        .await
        .context("COPY bench_conversation")?;
    copy.send(convs.into_bytes()).await?;
    copy.finish().await.context("COPY bench_conversation")?;
    Ok(())
}

/// COPY text format: backslash, tab, newline and carriage return escaped.
fn copy_escape(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// `JOIN bench_conversation …` and the extra condition of a filter, with `$n` placeholders
/// numbered after `values`' current length.
fn filter_sql(f: Option<&Filter>, values: &mut Vec<Value>) -> (String, String) {
    let Some(f) = f else {
        return (String::new(), String::new());
    };
    let (cond, v) = match f {
        Filter::Status(s) => ("c.status = $", s),
        Filter::Tag(s) => ("$ = ANY (c.tags)", s),
        Filter::Customer(s) => ("c.contact_email = $", s),
    };
    values.push(Value::String(Some(v.clone())));
    let n = values.len();
    let cond = cond.replace('$', &format!("${n}"));
    (
        " JOIN bench_conversation c ON c.id = m.conversation_id".into(),
        format!(" AND {cond}"),
    )
}

/// `(plainto_tsquery('english', $1) && phraseto_tsquery('english', $2))`
fn tsquery_expr(q: &BenchQuery, values: &mut Vec<Value>) -> String {
    let parts: Vec<String> = q
        .tsquery_parts()
        .into_iter()
        .map(|(f, arg)| {
            values.push(Value::String(Some(arg)));
            format!("{f}('english', ${})", values.len())
        })
        .collect();
    format!("({})", parts.join(" && "))
}

fn tsvector_page(q: &BenchQuery) -> Statement {
    let mut values = Vec::new();
    let tsq = tsquery_expr(q, &mut values);
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    let sql = format!(
        "WITH q AS (SELECT {tsq} AS q),
         best AS (
           SELECT DISTINCT ON (m.conversation_id) m.conversation_id AS cid, m.id AS mid,
                  ts_rank(m.tsv, q.q) AS score
           FROM bench_message_ts m CROSS JOIN q{join}
           WHERE m.tsv @@ q.q{cond}
           ORDER BY m.conversation_id, score DESC),
         top AS (SELECT * FROM best ORDER BY score DESC LIMIT {PAGE})
         SELECT top.cid, top.score::float8, ts_headline('english', m.body, q.q, \
           'StartSel=<mark>, StopSel=</mark>, MaxWords=24, MinWords=8')
         FROM top JOIN bench_message_ts m ON m.id = top.mid CROSS JOIN q
         ORDER BY top.score DESC"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn tsvector_count(q: &BenchQuery) -> Statement {
    let mut values = Vec::new();
    let tsq = tsquery_expr(q, &mut values);
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    let sql = format!(
        "SELECT count(DISTINCT m.conversation_id) FROM bench_message_ts m{join}
         WHERE m.tsv @@ {tsq}{cond}"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// `body ILIKE $1 AND body ILIKE $2 …` (one per term or phrase).
fn ilike_where(q: &BenchQuery, values: &mut Vec<Value>) -> String {
    q.ilike_patterns()
        .into_iter()
        .map(|p| {
            values.push(Value::String(Some(p)));
            format!("m.body ILIKE ${}", values.len())
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Chatwoot-style: matching messages grouped by conversation, most recent first, with the
/// latest matching message's text as the snippet.
fn ilike_page(q: &BenchQuery) -> Statement {
    let mut values = Vec::new();
    let w = ilike_where(q, &mut values);
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    let sql = format!(
        "SELECT m.conversation_id, max(m.created_at)::text AS last,
                (array_agg(m.body ORDER BY m.created_at DESC))[1] AS body
         FROM bench_message m{join}
         WHERE {w}{cond}
         GROUP BY m.conversation_id ORDER BY max(m.created_at) DESC LIMIT {PAGE}"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn ilike_count(q: &BenchQuery) -> Statement {
    let mut values = Vec::new();
    let w = ilike_where(q, &mut values);
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    let sql = format!(
        "SELECT count(DISTINCT m.conversation_id) FROM bench_message m{join} WHERE {w}{cond}"
    );
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    scalar_stmt(db, &Statement::from_string(DbBackend::Postgres, sql)).await
}

async fn scalar_stmt(db: &DatabaseConnection, stmt: &Statement) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(stmt.clone())
        .await?
        .context("a scalar query returned no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}
