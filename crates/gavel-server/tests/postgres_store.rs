//! The durable store on PostgreSQL (`[store] postgres`), against a private PostgreSQL server
//! each test starts (Debian's binaries; `common::postgres`): the same behaviour as SQLite's
//! (the shared conformance checks), `unavailable` at once while the database is down and
//! recovery without a restart when it is back (a room that cannot read its bans does not open),
//! a whole server keeping its rooms and bans there across a restart, and `gavel store migrate`
//! copying a node's SQLite data into it.

mod common;

use common::postgres::Postgres;
use common::*;
use gavel_client::RtcClient;
use gavel_server::store::postgres::PostgresStore;
use gavel_server::store::{conformance, Store};
use serde_json::json;

#[test]
fn the_postgres_store_behaves_like_the_embedded_one() {
    let pg = Postgres::start();
    let fresh = |name: &str| PostgresStore::connect(&pg.database(name)).unwrap();
    conformance::rooms_bans_audit_sessions_round_trip(&fresh("round_trip"));
    conformance::rooms_holding_state(&fresh("holding_state"));
    conformance::joined_room_settings(&fresh("joined_settings"));
    conformance::pruning(&fresh("pruning"));
    conformance::chime_meetings(&fresh("chime"));
    conformance::webhook_outbox(&fresh("webhooks"));
    // Nodes sharing the outbox: one deliverer per endpoint until its claim lapses.
    {
        use gavel_server::webhooks::store::WebhookStore;
        let shared = fresh("claims");
        assert!(shared.webhook_claim("e", "n1", 60_000).unwrap());
        assert!(!shared.webhook_claim("e", "n2", 60_000).unwrap());
        assert!(
            shared.webhook_claim("f", "n2", 60_000).unwrap(),
            "per endpoint"
        );
        assert!(shared.webhook_claim("g", "n1", 1).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(shared.webhook_claim("g", "n2", 60_000).unwrap(), "lapsed");
    }
    // Connecting again to a migrated database migrates nothing and keeps the rows.
    let url = pg.url("round_trip");
    let again = PostgresStore::connect(&url).unwrap();
    assert!(
        again.rooms().unwrap().is_empty(),
        "the round trip deleted its room"
    );
    assert_eq!(again.revocations("a").unwrap().len(), 0);
}

#[test]
fn calls_fail_as_unavailable_while_the_database_is_down_and_recover_after() {
    let pg = Postgres::start();
    let store = PostgresStore::connect(&pg.database("outage")).unwrap();
    store.save_room("r", &Default::default()).unwrap();
    pg.stop();
    let err = store.rooms().unwrap_err();
    assert!(err.unavailable, "{err}");
    let err = store.save_room("s", &Default::default()).unwrap_err();
    assert!(err.unavailable, "{err}");
    pg.run();
    // The next call connects again: no restart, nothing lost.
    let rooms: Vec<String> = store.rooms().unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(rooms, ["r"]);
    store.save_room("s", &Default::default()).unwrap();
    assert_eq!(store.rooms().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_keeps_its_rooms_and_bans_across_a_restart() {
    let pg = std::sync::Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
    let url = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.database("server"))
            .await
            .unwrap()
    };
    let config = || {
        let mut c = TestServer::config();
        c.store.postgres = Some(url.clone());
        c
    };
    let server = TestServer::with_config(config()).await;
    let admin = server.admin();
    admin
        .create_room("kept", json!({"max_participants": 9}))
        .await
        .unwrap();
    let troll = server.join("kept", "troll", "participant").await;
    admin.remove("kept", "troll", Some(600)).await.unwrap();
    drop(troll);
    server.stop().await;

    // A new server on the same database: the room and the ban are there.
    let server = TestServer::with_config(config()).await;
    let room = server.admin().get_room("kept").await.unwrap();
    assert_eq!(room["room"]["settings"]["max_participants"], 9, "{room}");
    let bans = server.admin().list_bans("kept").await.unwrap();
    assert!(bans.to_string().contains("troll"), "{bans}");
    let again = RtcClient::connect(&server.ws, &server.token("kept", "troll", "participant")).await;
    let err = again.err().expect("a banned identity is refused");
    assert_eq!(err.code.as_str(), "banned", "{err}");
    server.stop().await;
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gavel_store_migrate_copies_a_nodes_sqlite_data_into_postgres() {
    let pg = std::sync::Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
    let url = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.database("migrated"))
            .await
            .unwrap()
    };
    // A node on SQLite: a room, a ban (with its audit entry) and a session behind it.
    let data = common::process::temp_dir("sqlite-node");
    let server = TestServer::with_data_dir(&data).await;
    let admin = server.admin();
    admin
        .create_room("old", json!({"max_participants": 5}))
        .await
        .unwrap();
    let troll = server.join("old", "troll", "participant").await;
    admin.remove("old", "troll", Some(600)).await.unwrap();
    drop(troll);
    server.stop().await;

    let migrate = |url: String, data: std::path::PathBuf| {
        common::process::gavel(&["store", "migrate"])
            .env("GAVEL_DATA_DIR", data)
            .env("GAVEL_STORE__POSTGRES", url)
            .output()
            .unwrap()
    };
    let out = {
        let (url, data) = (url.clone(), data.clone());
        tokio::task::spawn_blocking(move || migrate(url, data))
            .await
            .unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("rooms"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("bans") && l.ends_with(" 1")),
        "{stdout}"
    );

    // A server on PostgreSQL has everything: the room, the ban, the audit log, and new audit
    // entries come after the copied ones.
    let mut config = TestServer::config();
    config.store.postgres = Some(url.clone());
    let server = TestServer::with_config(config).await;
    let admin = server.admin();
    let room = admin.get_room("old").await.unwrap();
    assert_eq!(room["room"]["settings"]["max_participants"], 5, "{room}");
    assert!(admin
        .list_bans("old")
        .await
        .unwrap()
        .to_string()
        .contains("troll"));
    let again = RtcClient::connect(&server.ws, &server.token("old", "troll", "participant")).await;
    assert_eq!(again.err().expect("still banned").code.as_str(), "banned");
    let before = admin.audit("old", 50).await.unwrap();
    admin.lift_ban("old", "troll").await.unwrap();
    // Audit entries are written in batches, off the command's path: wait for it.
    let deadline = std::time::Instant::now() + WAIT;
    let mut after = admin.audit("old", 50).await.unwrap();
    while after["entries"].as_array().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        after = admin.audit("old", 50).await.unwrap();
    }
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    assert!(!ids(&before).is_empty(), "the copied audit log: {before}");
    assert!(
        ids(&after)[0] > ids(&before)[0],
        "new entries follow the copied ones: {after}"
    );
    server.stop().await;

    // Into a database that holds data: refused, nothing changed.
    let out = tokio::task::spawn_blocking(move || migrate(url, data))
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already holds data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_down_the_node_is_not_ready_and_rooms_do_not_open_without_their_bans()
{
    let pg = std::sync::Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
    let url = {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.database("outage_server"))
            .await
            .unwrap()
    };
    let mut config = TestServer::config();
    config.store.postgres = Some(url);
    let server = TestServer::with_config(config).await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", server.http);
        async move {
            let r = reqwest::get(url).await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (status, body) = get("/readyz").await;
    assert_eq!(
        (status, body.contains(r#""ready":true"#)),
        (200, true),
        "{body}"
    );
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.stop())
            .await
            .unwrap();
    }
    // Up, but not ready: the store does not answer.
    assert_eq!(get("/healthz").await.0, 200);
    let (status, body) = get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains(r#""ready":false"#) && body.contains("database"),
        "{body}"
    );
    // A room that is not open yet cannot read its bans: the join fails, and says why.
    let token = server.token("closed-door", "ann", "participant");
    let err = RtcClient::connect(&server.ws, &token)
        .await
        .err()
        .expect("refused");
    assert_eq!(err.code.as_str(), "unavailable", "{err}");
    let created = server.admin().create_room("later", json!({})).await;
    assert_eq!(api_code(created).0, "unavailable");
    // The database is back: the same join works, without a restart.
    {
        let pg = pg.clone();
        tokio::task::spawn_blocking(move || pg.run()).await.unwrap();
    }
    RtcClient::connect(&server.ws, &token)
        .await
        .expect("joins once the database is back");
    assert_eq!(get("/readyz").await.0, 200);
    server.stop().await;
}
