//! One test per transition: the moves it allows, the ones it refuses, and races (the database
//! picks one winner). An in-memory SQLite database with the real migrations, or a fresh
//! PostgreSQL database when `TEST_DATABASE_URL` is set; foreign keys off either way so that a
//! conversation row needs no account, inbox or contact.
use chrono::{Duration, Utc};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use tokio::sync::mpsc;

use super::*;

pub(crate) struct Fixture {
    pub(crate) db: DatabaseConnection,
    pub(crate) events: Events,
    rx: mpsc::Receiver<DomainEvent>,
}

pub(crate) async fn fixture() -> Fixture {
    let db = match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(admin) => postgres(&admin).await,
        None => {
            let mut opts = ConnectOptions::new("sqlite::memory:");
            // One connection: every query sees the same in-memory database.
            opts.max_connections(1)
                .min_connections(1)
                .sqlx_logging(false);
            let db = Database::connect(opts).await.expect("connect");
            crate::db::migrate(&db).await.expect("migrate");
            db.execute_unprepared("PRAGMA foreign_keys = OFF")
                .await
                .expect("pragma");
            db
        }
    };
    let (tx, rx) = mpsc::channel(64);
    Fixture {
        db,
        events: Events::new(vec![tx]),
        rx,
    }
}

/// A fresh database (named like the integration tests' ones, dropped by [`Fixture::done`]);
/// every pooled session skips foreign-key triggers.
async fn postgres(admin: &str) -> DatabaseConnection {
    let name = format!("sb_test_{}", Uuid::new_v4().simple());
    let conn = Database::connect(admin).await.expect("connect admin");
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let _ = conn.close().await;
    let (prefix, _) = admin.rsplit_once('/').expect("database URL has a path");
    let url = format!("{prefix}/{name}?options=-c%20session_replication_role%3Dreplica");
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(4).sqlx_logging(false);
    let db = Database::connect(opts).await.expect("connect");
    crate::db::migrate(&db).await.expect("migrate");
    db
}

impl Fixture {
    /// Drops the PostgreSQL database (nothing to do for SQLite).
    pub(crate) async fn done(self) {
        let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
            return;
        };
        if self.db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            return;
        }
        let name: Option<String> = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT current_database() AS name",
            ))
            .await
            .ok()
            .flatten()
            .and_then(|r| r.try_get("", "name").ok());
        let _ = self.db.close().await;
        if let (Some(name), Ok(conn)) = (name, Database::connect(&admin).await) {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = conn.execute_unprepared(&sql).await;
            let _ = conn.close().await;
        }
    }

    pub(crate) async fn conv(&self, status: Status, bot: Option<BotState>) -> conversation::Model {
        let now = Utc::now();
        let m = conversation::Model {
            id: Uuid::now_v7(),
            account_id: Uuid::from_u128(1),
            inbox_id: Uuid::from_u128(2),
            contact_id: Uuid::new_v4(),
            status,
            assignee_id: None,
            last_seq: 0,
            created_at: now,
            updated_at: now,
            last_message_at: None,
            snoozed_until: None,
            waiting_since: None,
            subject: None,
            external_id: None,
            tags: String::new(),
            bot_state: bot,
            bot_turns: 0,
            bot_lease_until: None,
        };
        create(&self.db, m.clone()).await.expect("create");
        m
    }

    pub(crate) async fn row(&self, id: Uuid) -> conversation::Model {
        conversation::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .expect("read")
            .expect("row")
    }

    /// The conversation states announced so far.
    fn announced(&mut self) -> Vec<ConversationState> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            if let DomainEvent::ConversationUpdated { state, .. } = e {
                out.push(state);
            }
        }
        out
    }
}

#[tokio::test]
async fn two_claims_one_winner() {
    let mut f = fixture().await;
    let c = f.conv(Status::Open, None).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (ra, rb) = tokio::join!(
        claim(&f.db, &f.events, c.id, a),
        claim(&f.db, &f.events, c.id, b)
    );
    let (ra, rb) = (ra.expect("claim a"), rb.expect("claim b"));
    assert!(ra.is_some() ^ rb.is_some(), "exactly one claim wins");
    let winner = if ra.is_some() { a } else { b };
    assert_eq!(f.row(c.id).await.assignee_id, Some(winner));
    let seen = f.announced();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].assignee_id, Some(winner));
    // A later claim is refused and announces nothing.
    let late = claim(&f.db, &f.events, c.id, Uuid::new_v4()).await;
    assert!(late.expect("claim").is_none());
    assert!(f.announced().is_empty());
    f.done().await;
}

#[tokio::test]
async fn assign_transfers_and_unassigns() {
    let mut f = fixture().await;
    let c = f.conv(Status::Open, None).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assign(&f.db, &f.events, c.id, Some(a)).await.expect("a");
    let moved = assign(&f.db, &f.events, c.id, Some(b)).await.expect("b");
    assert_eq!(moved.map(|m| m.assignee_id), Some(Some(b)));
    let back = assign(&f.db, &f.events, c.id, None).await.expect("none");
    assert_eq!(back.map(|m| m.assignee_id), Some(None));
    let seen: Vec<_> = f.announced().into_iter().map(|s| s.assignee_id).collect();
    assert_eq!(seen, vec![Some(a), Some(b), None]);
    let gone = assign(&f.db, &f.events, Uuid::new_v4(), Some(a)).await;
    assert!(gone.expect("missing").is_none());
    f.done().await;
}

#[tokio::test]
async fn assign_next_takes_only_open_unassigned() {
    let f = fixture().await;
    let agent = Uuid::new_v4();
    let open = f.conv(Status::Open, None).await;
    let pending = f.conv(Status::Pending, Some(BotState::Active)).await;
    let got = assign_next(&f.db, &f.events, open.id, agent).await;
    assert_eq!(
        got.expect("first pick").map(|m| m.assignee_id),
        Some(Some(agent))
    );
    // Already placed, or not open: refused.
    let again = assign_next(&f.db, &f.events, open.id, Uuid::new_v4()).await;
    assert!(again.expect("again").is_none());
    let bot = assign_next(&f.db, &f.events, pending.id, agent).await;
    assert!(bot.expect("bot pick").is_none());
    assert_eq!(f.row(pending.id).await.assignee_id, None);
    f.done().await;
}

#[tokio::test]
async fn requeue_frees_only_the_agents_unresolved() {
    let mut f = fixture().await;
    let (gone, other) = (Uuid::new_v4(), Uuid::new_v4());
    let open = f.conv(Status::Open, None).await;
    let snoozed = f.conv(Status::Snoozed, None).await;
    let resolved = f.conv(Status::Resolved, None).await;
    let others = f.conv(Status::Open, None).await;
    for c in [&open, &snoozed, &resolved] {
        assign(&f.db, &f.events, c.id, Some(gone))
            .await
            .expect("assign");
    }
    assign(&f.db, &f.events, others.id, Some(other))
        .await
        .expect("assign");
    f.announced();
    let freed = requeue(&f.db, &f.events, gone).await.expect("requeue");
    let mut ids: Vec<Uuid> = freed.iter().map(|m| m.id).collect();
    ids.sort();
    let mut want = vec![open.id, snoozed.id];
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(f.row(resolved.id).await.assignee_id, Some(gone));
    assert_eq!(f.row(others.id).await.assignee_id, Some(other));
    assert!(f.announced().iter().all(|s| s.assignee_id.is_none()));
    f.done().await;
}

#[tokio::test]
async fn set_status_and_snooze() {
    let mut f = fixture().await;
    let c = f.conv(Status::Open, None).await;
    let until = Utc::now() + Duration::hours(1);
    let s = set_status(&f.db, &f.events, c.id, Status::Snoozed, Some(until))
        .await
        .expect("snooze")
        .expect("row");
    assert_eq!(s.status, Status::Snoozed);
    assert!(s.snoozed_until.is_some());
    let r = set_status(&f.db, &f.events, c.id, Status::Resolved, None)
        .await
        .expect("resolve")
        .expect("row");
    assert_eq!((r.status, r.snoozed_until), (Status::Resolved, None));
    let seen: Vec<Status> = f.announced().into_iter().map(|s| s.status).collect();
    assert_eq!(seen, vec![Status::Snoozed, Status::Resolved]);
    f.done().await;
}

#[tokio::test]
async fn set_tags_replaces() {
    let mut f = fixture().await;
    let c = f.conv(Status::Open, None).await;
    let m = set_tags(&f.db, &f.events, c.id, "a\nb".into())
        .await
        .expect("tags")
        .expect("row");
    assert_eq!(m.tags, "a\nb");
    assert_eq!(f.announced().len(), 1);
    f.done().await;
}

#[tokio::test]
async fn wake_due_snoozes_wakes_only_due_still_snoozed() {
    let mut f = fixture().await;
    let now = Utc::now();
    let due = f.conv(Status::Open, None).await;
    let later = f.conv(Status::Open, None).await;
    let acted = f.conv(Status::Open, None).await;
    let past = now - Duration::minutes(1);
    for (c, t) in [
        (&due, past),
        (&later, now + Duration::hours(1)),
        (&acted, past),
    ] {
        set_status(&f.db, &f.events, c.id, Status::Snoozed, Some(t))
            .await
            .expect("snooze");
    }
    // An agent resolved this one before the snooze ended.
    set_status(&f.db, &f.events, acted.id, Status::Resolved, None)
        .await
        .expect("resolve");
    f.announced();
    let woke = wake_due_snoozes(&f.db, &f.events, now).await.expect("wake");
    assert_eq!(woke.iter().map(|m| m.id).collect::<Vec<_>>(), vec![due.id]);
    let d = f.row(due.id).await;
    assert_eq!((d.status, d.snoozed_until), (Status::Open, None));
    assert_eq!(f.row(later.id).await.status, Status::Snoozed);
    assert_eq!(f.row(acted.id).await.status, Status::Resolved);
    let seen = f.announced();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].status, seen[0].snoozed_until),
        (Status::Open, None)
    );
    f.done().await;
}

#[tokio::test]
async fn hand_off_once_and_opens_pending() {
    let mut f = fixture().await;
    let bot = f.conv(Status::Pending, Some(BotState::Active)).await;
    let resolved = f.conv(Status::Resolved, Some(BotState::Active)).await;
    let humans = f.conv(Status::Open, None).await;
    let h = hand_off(&f.db, &f.events, bot.id, true)
        .await
        .expect("hand off")
        .expect("row");
    assert_eq!(h.bot_state, Some(BotState::HandedOff));
    assert_eq!(h.status, Status::Open);
    assert!(h.waiting_since.is_some());
    // Once only; never for a conversation the bot does not hold.
    assert!(
        hand_off(&f.db, &f.events, bot.id, true)
            .await
            .expect("again")
            .is_none()
    );
    assert!(
        hand_off(&f.db, &f.events, humans.id, true)
            .await
            .expect("humans")
            .is_none()
    );
    // A status other than pending stays; without a waiting customer the wait is unchanged.
    let r = hand_off(&f.db, &f.events, resolved.id, false)
        .await
        .expect("hand off after resolve")
        .expect("row");
    assert_eq!((r.status, r.waiting_since), (Status::Resolved, None));
    let seen: Vec<_> = f.announced().into_iter().map(|s| s.bot_state).collect();
    assert_eq!(seen, vec![Some(BotState::HandedOff); 2]);
    f.done().await;
}

#[tokio::test]
async fn bot_turns_and_lease() {
    let f = fixture().await;
    let c = f.conv(Status::Pending, Some(BotState::Active)).await;
    count_bot_turn(&f.db, c.id).await.expect("turn");
    count_bot_turn(&f.db, c.id).await.expect("turn");
    assert_eq!(f.row(c.id).await.bot_turns, 2);
    let now = Utc::now();
    let until = now + Duration::seconds(30);
    assert!(take_bot_lease(&f.db, c.id, now, until).await.expect("take"));
    assert!(!take_bot_lease(&f.db, c.id, now, until).await.expect("held"));
    // An expired lease can be taken over.
    let later = until + Duration::seconds(1);
    assert!(
        take_bot_lease(&f.db, c.id, later, later + Duration::seconds(30))
            .await
            .expect("expired")
    );
    // Releasing with a stale lease leaves the new holder's lease alone.
    release_bot_lease(&f.db, c.id, until).await.expect("stale");
    assert!(f.row(c.id).await.bot_lease_until.is_some());
    f.done().await;
}

#[tokio::test]
async fn touch_and_erase() {
    let f = fixture().await;
    let c = f.conv(Status::Open, None).await;
    touch(&f.db, c.id).await.expect("touch");
    assert!(f.row(c.id).await.updated_at >= c.updated_at);
    erase(&f.db, &[c.id]).await.expect("erase");
    let gone = conversation::Entity::find_by_id(c.id).one(&f.db).await;
    assert!(gone.expect("read").is_none());
    f.done().await;
}

#[test]
fn customer_reopens_resolved_and_snoozed_only() {
    let base = conversation::Model {
        id: Uuid::nil(),
        account_id: Uuid::nil(),
        inbox_id: Uuid::nil(),
        contact_id: Uuid::nil(),
        status: Status::Open,
        assignee_id: None,
        last_seq: 0,
        created_at: Utc::now(),
        updated_at: Utc::now(),
        last_message_at: None,
        snoozed_until: Some(Utc::now()),
        waiting_since: None,
        subject: None,
        external_id: None,
        tags: String::new(),
        bot_state: None,
        bot_turns: 0,
        bot_lease_until: None,
    };
    for (from, reopens) in [
        (Status::Open, false),
        (Status::Pending, false),
        (Status::Snoozed, true),
        (Status::Resolved, true),
    ] {
        let mut c = base.clone();
        c.status = from;
        assert_eq!(customer_wrote(&mut c), reopens, "{from:?}");
        if reopens {
            assert_eq!((c.status, c.snoozed_until), (Status::Open, None));
        } else {
            assert_eq!(c.status, from);
        }
    }
}

#[test]
fn status_names_round_trip() {
    for s in Status::ALL {
        assert_eq!(Status::parse(s.as_str()), Some(s));
        assert_eq!(
            serde_json::to_value(s).expect("json"),
            serde_json::json!(s.as_str())
        );
    }
    assert_eq!(Status::parse("closed"), None);
    for b in [BotState::Active, BotState::HandedOff] {
        assert_eq!(
            serde_json::to_value(b).expect("json"),
            serde_json::json!(b.as_str())
        );
    }
}
