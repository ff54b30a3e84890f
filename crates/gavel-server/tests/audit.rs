//! Audit completeness: every host-control path (server API, client-side, batch) leaves an
//! entry, refused attempts too; every session leaves a history row. And the log's bounds: a
//! participant sending refused actions cannot grow the database, and retention removes old
//! entries.

mod common;
use common::*;
use gavel_server::store::audit_policy::{REFUSED_BURST, REFUSED_PARAMS_MAX};
use gavel_server::store::sqlite::SqliteStore;
use gavel_server::store::Store;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Polls the audit log until it holds `n` entries (they are committed in batches).
async fn audit_entries(ts: &TestServer, room: &str, n: usize) -> Vec<Value> {
    let api = ts.admin();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let v = api.audit(room, 100).await.unwrap();
        let entries = v["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= n || tokio::time::Instant::now() > deadline {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_path_and_every_refusal_is_audited() {
    let ts = TestServer::start().await;
    let api = ts.admin();
    let host = ts.join("aud", "host", "host").await;
    let guest = ts.join("aud", "guest", "participant").await;
    guest.publish("microphone").await.unwrap();

    api.mute("aud", "guest", "microphone", true).await.unwrap(); // server API
    host.request(json!({"type": "pin", "identity": "guest"}))
        .await
        .unwrap(); // client-side
    let denied = guest
        .request(json!({"type": "kick", "identity": "host"}))
        .await; // refused
    assert!(denied.is_err());
    api.batch_update("aud", json!({"guest": {"set_video": false}}))
        .await
        .unwrap(); // batch
    api.remove("aud", "guest", Some(60)).await.unwrap(); // kick with ban

    let entries = audit_entries(&ts, "aud", 5).await;
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["action"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        summary,
        vec![
            s("admin", "mute", "ok"),
            s("host", "pin", "ok"),
            s("guest", "kick", "permission_denied"),
            s("admin", "batch_update", "ok"),
            s("admin", "kick", "ok"),
        ]
    );
    let kick = &entries[0];
    assert_eq!(kick["targets"], json!(["guest"]));
    assert_eq!(kick["params"]["ban_seconds"], 60);
    assert_eq!(
        entries[2]["message"].as_str().map(|m| m.contains("kick")),
        Some(true)
    );

    // Paging: newest first, `next_before` continues.
    let page = api
        .call("GET", "/v1/rooms/aud/audit?limit=2", None)
        .await
        .unwrap();
    assert_eq!(page["entries"].as_array().unwrap().len(), 2);
    let next = page["next_before"].as_i64().unwrap();
    let rest = api
        .call(
            "GET",
            &format!("/v1/rooms/aud/audit?limit=10&before={next}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rest["entries"].as_array().unwrap().len(), 3);
    let bad = api
        .call("GET", "/v1/rooms/aud/audit?limit=0", None)
        .await
        .unwrap_err();
    assert_eq!(bad.error.code.as_str(), "invalid_argument");

    // The kicked guest's session is in the history, with its reason.
    let deadline = tokio::time::Instant::now() + WAIT;
    let sessions = loop {
        let v = api.sessions("aud", 10).await.unwrap();
        if !v["sessions"].as_array().unwrap().is_empty() || tokio::time::Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(sessions["sessions"][0]["identity"], "guest");
    assert_eq!(sessions["sessions"][0]["reason"], "kicked");
    ts.stop().await;
}

/// The database's bytes on disk, write-ahead log included.
fn db_bytes(dir: &std::path::Path) -> u64 {
    ["gavel.db", "gavel.db-wal", "gavel.db-shm"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

async fn scrape(ts: &TestServer) -> String {
    reqwest::get(format!("{}/metrics", ts.http))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}")) as u64
}

#[tokio::test]
async fn refused_actions_cannot_flood_the_audit_log() {
    let dir = process::temp_dir("audit-flood");
    let mut config = TestServer::config();
    config.data_dir = Some(dir.clone());
    let ts = TestServer::with_config(config).await;
    let _host = ts.join("flood", "host", "host").await;
    let guest = ts.join("flood", "guest", "participant").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = db_bytes(&dir);

    // Refused batch updates with 15 KB of metadata each, just under the connection's rate limit
    // (50/s), for 3 seconds.
    let metadata = "x".repeat(15_000);
    let request = json!({"type": "batch_update", "updates": {"host": {"metadata": metadata}}});
    let started = Instant::now();
    let mut refused = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        assert_eq!(
            ws_code(guest.request(request.clone()).await),
            "permission_denied"
        );
        refused += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Everything handed to the writer is committed within a batch interval.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown = db_bytes(&dir).saturating_sub(before);
    let entries = audit_entries(&ts, "flood", 1).await;
    eprintln!(
        "{refused} refused actions in 3 s: {} entries, database +{grown} bytes",
        entries.len()
    );
    assert!(refused > 100, "the loop ran ({refused})");
    assert_eq!(
        entries.len(),
        REFUSED_BURST as usize,
        "over the rate: not written"
    );
    for e in &entries {
        // Who tried what is still recorded; what they sent is cut.
        assert_eq!(
            (&e["actor"], &e["action"], &e["outcome"], &e["targets"]),
            (
                &json!("guest"),
                &json!("batch_update"),
                &json!("permission_denied"),
                &json!(["host"])
            )
        );
        assert!(e["params"].to_string().len() <= REFUSED_PARAMS_MAX);
        assert!(e["params"].to_string().contains("…[+"), "{}", e["params"]);
    }
    // Before the policy, each attempt added a full row: ~26 KB on disk.
    assert!(grown < 256 * 1024, "the database grew by {grown} bytes");
    let text = scrape(&ts).await;
    assert_eq!(
        sample(&text, "gavel_audit_suppressed_total "),
        refused - entries.len() as u64
    );
    assert_eq!(
        sample(
            &text,
            r#"gavel_host_actions_total{action="batch_update",outcome="permission_denied"}"#
        ),
        refused,
        "the metric counts every attempt"
    );

    // At shutdown the last suppressed attempt is written, carrying the count of the others.
    ts.stop().await;
    let rows = SqliteStore::open(&dir)
        .unwrap()
        .audit("flood", None, None, 1000)
        .unwrap();
    assert_eq!(rows.len(), entries.len() + 1);
    assert_eq!(rows[0].suppressed, refused - rows.len() as u64);
    let accounted: u64 = rows.iter().map(|e| 1 + e.suppressed).sum();
    assert_eq!(accounted, refused, "every refusal is written or counted");
}

#[tokio::test]
async fn retention_keeps_the_newest_entries() {
    let mut config = TestServer::config();
    config.audit.max_rows = 5;
    let ts = TestServer::with_config(config).await;
    let api = ts.admin();
    let _host = ts.join("kept", "host", "host").await;
    for i in 0..12 {
        api.update_room_metadata("kept", &format!("m{i}"))
            .await
            .unwrap();
    }
    // The writer enforces the limits every second.
    let deadline = tokio::time::Instant::now() + WAIT;
    let kept = loop {
        let v = api.audit("kept", 100).await.unwrap();
        let kept: Vec<String> = v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["params"]["metadata"].as_str().unwrap_or("").to_string())
            .collect();
        let settled = kept.len() <= 5 && kept.first().is_some_and(|m| m == "m11");
        if settled || tokio::time::Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(kept, ["m11", "m10", "m9", "m8", "m7"]);
    assert_eq!(sample(&scrape(&ts).await, "gavel_audit_pruned_total "), 7);
    ts.stop().await;
}
