//! Audit completeness: every host-control path (server API, client-side, batch) leaves an
//! entry, refused attempts too; every session leaves a history row.

mod common;
use common::*;
use serde_json::{json, Value};

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
