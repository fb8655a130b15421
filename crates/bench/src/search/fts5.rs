//! SQLite FTS5 over the same corpus, in a temp file: `conv` and `msg` tables, and an
//! external-content FTS5 table on `msg.body` (`porter unicode61 remove_diacritics 2`) built with
//! `rebuild` + `optimize` after the rows are loaded. A query returns the first page of 20
//! conversations ranked by their best message's bm25, with a snippet of that message, in one
//! statement; filters are a join on `conv`.
use std::{path::Path, time::Instant};

use anyhow::Context;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait, Value,
};

use super::{
    EngineRun, PAGE,
    corpus::{Conv, Corpus},
    measure_async, progress,
    queries::{BenchQuery, Filter},
};

/// Load, build and query figures of the FTS5 run.
pub struct Fts5Result {
    pub load_s: f64,
    pub index_s: f64,
    /// The whole database file: message and conversation tables plus the FTS5 index.
    pub db_bytes: u64,
    /// The FTS5 index alone (its `_data` and `_idx` tables' payload).
    pub index_bytes: u64,
    pub run: EngineRun,
}

pub async fn run(
    dir: &Path,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
) -> anyhow::Result<Fts5Result> {
    let path = dir.join("fts5.sqlite");
    let mut opts = ConnectOptions::new(format!("sqlite://{}?mode=rwc", path.display()));
    // One connection, so the pragmas below apply to every statement. The page cache is sized
    // like the server's (64 MiB); reads also go through a 1 GiB mmap, as tantivy's do.
    opts.max_connections(1)
        .min_connections(1)
        .sqlx_logging(false)
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|o| {
            o.pragma("journal_mode", "OFF")
                .pragma("synchronous", "OFF")
                .pragma("cache_size", "-65536")
                .pragma("mmap_size", "1073741824")
                .pragma("temp_store", "MEMORY")
        });
    let db = Database::connect(opts)
        .await
        .context("opening the FTS5 database")?;
    let out = bench(&db, &path, corpus, queries, reps).await;
    let _ = db.close().await;
    out
}

async fn bench(
    db: &DatabaseConnection,
    path: &Path,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
) -> anyhow::Result<Fts5Result> {
    db.execute_unprepared(
        "CREATE TABLE conv (id INTEGER PRIMARY KEY, status TEXT NOT NULL, tags TEXT NOT NULL, \
           contact_email TEXT NOT NULL, updated_at TEXT NOT NULL);
         CREATE TABLE msg (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, \
           private INTEGER NOT NULL, created_at TEXT NOT NULL, body TEXT NOT NULL);
         CREATE VIRTUAL TABLE msg_fts USING fts5(body, content='msg', content_rowid='id', \
           tokenize='porter unicode61 remove_diacritics 2');",
    )
    .await
    .context("creating the FTS5 schema")?;

    progress(format_args!(
        "FTS5: loading {} messages into SQLite",
        corpus.spec.messages
    ));
    let t0 = Instant::now();
    load(db, corpus).await?;
    db.execute_unprepared("CREATE INDEX conv_contact_email ON conv (contact_email)")
        .await?;
    let load_s = t0.elapsed().as_secs_f64();
    progress(format_args!(
        "FTS5: rows loaded in {load_s:.1} s; building the index"
    ));
    let t1 = Instant::now();
    db.execute_unprepared("INSERT INTO msg_fts(msg_fts) VALUES('rebuild')")
        .await
        .context("building the FTS5 index (is FTS5 compiled in?)")?;
    db.execute_unprepared("INSERT INTO msg_fts(msg_fts) VALUES('optimize')")
        .await?;
    db.execute_unprepared("ANALYZE").await?;
    let index_s = t1.elapsed().as_secs_f64();
    progress(format_args!("FTS5: index built in {index_s:.1} s"));
    let index_bytes = scalar_i64(
        db,
        "SELECT (SELECT coalesce(sum(length(block)), 0) FROM msg_fts_data) \
              + (SELECT coalesce(sum(length(term)) + 16 * count(*), 0) FROM msg_fts_idx)",
    )
    .await? as u64;
    let db_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let statements: Vec<Statement> = queries.iter().map(page_statement).collect();
    let counts: Vec<Statement> = queries.iter().map(count_statement).collect();
    let mut hits = Vec::with_capacity(queries.len());
    for c in &counts {
        hits.push(scalar_stmt(db, c).await? as u64);
    }
    progress(format_args!(
        "FTS5: {} queries × {reps} (after one warm-up round)",
        queries.len()
    ));
    let run = measure_async(queries, reps, hits, |i| {
        let stmt = &statements[i];
        async move {
            let rows = db.query_all_raw(stmt.clone()).await?;
            // Read the snippets, as a caller would.
            let mut len = 0;
            for r in &rows {
                len += r.try_get_by_index::<String>(2)?.len();
            }
            std::hint::black_box(len);
            Ok(rows.len())
        }
    })
    .await?;
    Ok(Fts5Result {
        load_s,
        index_s,
        db_bytes,
        index_bytes,
        run,
    })
}

/// Multi-row INSERTs (500 rows each) in one transaction.
async fn load(db: &DatabaseConnection, corpus: &Corpus) -> anyhow::Result<()> {
    const ROWS: usize = 500;
    let txn = db.begin().await?;
    let mut convs: Vec<Conv> = Vec::with_capacity(ROWS);
    let mut msgs: Vec<Value> = Vec::with_capacity(ROWS * 5);
    let mut msg_rows = 0;
    for i in 0..corpus.len() {
        let c = corpus.conversation(i);
        for m in &c.messages {
            msgs.extend([
                Value::BigInt(Some(m.id as i64)),
                Value::BigInt(Some(c.sql_id())),
                Value::Int(Some(i32::from(m.private))),
                Value::String(Some(m.created_at.to_rfc3339())),
                Value::String(Some(m.body.clone())),
            ]);
            msg_rows += 1;
            if msg_rows == ROWS {
                insert(&txn, "msg", 5, msg_rows, std::mem::take(&mut msgs)).await?;
                msg_rows = 0;
            }
        }
        convs.push(c);
        if convs.len() == ROWS {
            insert_convs(&txn, &mut convs).await?;
        }
    }
    if msg_rows > 0 {
        insert(&txn, "msg", 5, msg_rows, msgs).await?;
    }
    insert_convs(&txn, &mut convs).await?;
    txn.commit().await?;
    Ok(())
}

async fn insert_convs(db: &impl ConnectionTrait, convs: &mut Vec<Conv>) -> anyhow::Result<()> {
    if convs.is_empty() {
        return Ok(());
    }
    let mut values = Vec::with_capacity(convs.len() * 5);
    for c in convs.iter() {
        values.extend([
            Value::BigInt(Some(c.sql_id())),
            Value::String(Some(c.status.to_string())),
            Value::String(Some(format!(",{},", c.tags.join(",")))),
            Value::String(Some(c.contact_email.clone())),
            Value::String(Some(c.updated_at.to_rfc3339())),
        ]);
    }
    let n = convs.len();
    convs.clear();
    insert(db, "conv", 5, n, values).await
}

async fn insert(
    db: &impl ConnectionTrait,
    table: &str,
    cols: usize,
    rows: usize,
    values: Vec<Value>,
) -> anyhow::Result<()> {
    let row = format!("({})", vec!["?"; cols].join(","));
    let sql = format!("INSERT INTO {table} VALUES {}", vec![row; rows].join(","));
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .with_context(|| format!("inserting into {table}"))?;
    Ok(())
}

/// `JOIN conv …` and the extra condition of a filter (values appended to `values`).
fn filter_sql(f: Option<&Filter>, values: &mut Vec<Value>) -> (&'static str, &'static str) {
    let Some(f) = f else {
        return ("", "");
    };
    let join = " JOIN conv c ON c.id = m.conversation_id";
    match f {
        Filter::Status(s) => {
            values.push(Value::String(Some(s.clone())));
            (join, " AND c.status = ?")
        }
        Filter::Tag(s) => {
            values.push(Value::String(Some(format!("%,{s},%"))));
            (join, " AND c.tags LIKE ?")
        }
        Filter::Customer(s) => {
            values.push(Value::String(Some(s.clone())));
            (join, " AND c.contact_email = ?")
        }
    }
}

/// The first page: best message per conversation by bm25 (SQLite returns the bare column `mid`
/// of the row that has the `MIN`), top 20 conversations, a snippet of each best message
/// (`CROSS JOIN` keeps `best` as the outer loop: 20 rowid lookups, not a second full match).
fn page_statement(q: &BenchQuery) -> Statement {
    let mut values = vec![Value::String(Some(q.fts5_match()))];
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    values.push(Value::String(Some(q.fts5_match())));
    let sql = format!(
        "WITH best AS (
           SELECT m.conversation_id AS cid, MIN(f.rank) AS score, f.rowid AS mid
           FROM msg_fts f JOIN msg m ON m.id = f.rowid{join}
           WHERE msg_fts MATCH ?{cond}
           GROUP BY m.conversation_id ORDER BY score LIMIT {PAGE})
         SELECT best.cid, best.score, snippet(msg_fts, 0, '<mark>', '</mark>', '…', 12)
         FROM best CROSS JOIN msg_fts ON msg_fts.rowid = best.mid
         WHERE msg_fts MATCH ? ORDER BY best.score"
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

/// How many conversations match (not timed).
fn count_statement(q: &BenchQuery) -> Statement {
    let mut values = vec![Value::String(Some(q.fts5_match()))];
    let (join, cond) = filter_sql(q.filter.as_ref(), &mut values);
    let sql = format!(
        "SELECT count(DISTINCT m.conversation_id) FROM msg_fts f JOIN msg m ON m.id = f.rowid{join}
         WHERE msg_fts MATCH ?{cond}"
    );
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

async fn scalar_i64(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    scalar_stmt(db, &Statement::from_string(DbBackend::Sqlite, sql)).await
}

async fn scalar_stmt(db: &DatabaseConnection, stmt: &Statement) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(stmt.clone())
        .await?
        .context("a scalar query returned no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}
