//! Acknowledgements are true, on every entry path (WebSocket, HTTP, Twirp, Chime): a command
//! whose durable part cannot be committed has no effect at all — nobody is kicked, nobody hears
//! anything — and that command, and no other, is answered `unavailable`. Once the store works
//! again the same command goes through.
//!
//! The store fails on demand: a SQLite trigger on the table the command writes, created through a
//! second connection to the test server's own database file.

mod common;
use common::chime::ChimeHttp;
use common::process::temp_dir;
use common::*;
use gavel_client::{AccessToken, RtcClient};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn db(dir: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(dir.join("gavel.db")).unwrap();
    c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
    c
}

/// Every insert into `table` fails from now on.
fn break_table(dir: &Path, table: &str) {
    db(dir)
        .execute_batch(&format!(
            "CREATE TRIGGER fail_{table} BEFORE INSERT ON {table}
             BEGIN SELECT RAISE(ABORT, 'disk full (injected)'); END;"
        ))
        .unwrap();
}

fn heal_table(dir: &Path, table: &str) {
    db(dir)
        .execute_batch(&format!("DROP TRIGGER fail_{table};"))
        .unwrap();
}

async fn server(label: &str) -> (TestServer, PathBuf) {
    let dir = temp_dir(label);
    (TestServer::with_data_dir(&dir).await, dir)
}

/// `identity` is still in `room`, and was told nothing.
async fn still_there(ts: &TestServer, room: &str, identity: &str, client: &RtcClient) {
    expect_none(client, "room_left").await;
    assert!(
        api_identities(&ts.admin(), room)
            .await
            .contains(&identity.to_string()),
        "{identity} left {room}"
    );
}

#[tokio::test]
async fn websocket_kick_with_ban_that_cannot_be_stored_kicks_nobody() {
    let (ts, dir) = server("ack-ws").await;
    let host = ts.join("ack-ws", "host", "host").await;
    let guest = ts.join("ack-ws", "guest", "participant").await;
    settle(&host).await;
    settle(&guest).await;

    break_table(&dir, "bans");
    let kick = json!({"type": "kick", "identity": "guest", "ban_seconds": 60});
    let r = host.request(kick.clone()).await;
    assert_eq!(ws_code(r), "unavailable");
    still_there(&ts, "ack-ws", "guest", &guest).await;
    expect_none(&host, "participant_left").await;
    assert_eq!(
        ts.admin().list_bans("ack-ws").await.unwrap()["bans"],
        json!([])
    );

    // The next, unrelated command is not blamed for the failed one.
    let pinned = host
        .request(json!({"type": "pin", "identity": "guest"}))
        .await
        .unwrap();
    assert_eq!(pinned["ok"], true);

    heal_table(&dir, "bans");
    let r = host.request(kick).await.unwrap();
    assert_eq!(r["ok"], true);
    assert_eq!(r["removed"], true);
    expect_room_left(&guest, "kicked", Some("host")).await;
    let refused = RtcClient::connect(&ts.ws, &ts.token("ack-ws", "guest", "participant")).await;
    assert_eq!(refused.err().unwrap().code.as_str(), "banned");
}

#[tokio::test]
async fn http_remove_with_ban_that_cannot_be_stored_removes_nobody() {
    let (ts, dir) = server("ack-http").await;
    let api = ts.admin();
    api.create_room("ack-http", json!({})).await.unwrap();
    let guest = ts.join("ack-http", "guest", "participant").await;
    settle(&guest).await;

    break_table(&dir, "bans");
    let r = api.remove("ack-http", "guest", Some(60)).await;
    assert_eq!(api_code(r), ("unavailable", 503));
    still_there(&ts, "ack-http", "guest", &guest).await;
    // Not blamed on the next command.
    api.pin("ack-http", "guest").await.unwrap();

    heal_table(&dir, "bans");
    let r = api.remove("ack-http", "guest", Some(60)).await.unwrap();
    assert_eq!(r["removed"], true);
    expect_room_left(&guest, "kicked", Some("admin")).await;
}

#[tokio::test]
async fn twirp_remove_participant_that_cannot_revoke_removes_nobody() {
    let (ts, dir) = server("ack-twirp").await;
    let guest = ts.join("ack-twirp", "guest", "participant").await;
    settle(&guest).await;
    let token = AccessToken::new(KEY, SECRET).admin(None).to_jwt();
    let remove = || async {
        let r = reqwest::Client::new()
            .post(format!(
                "{}/twirp/livekit.RoomService/RemoveParticipant",
                ts.http
            ))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(json!({"room": "ack-twirp", "identity": "guest"}).to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap())
    };

    break_table(&dir, "revocations");
    let (status, body) = remove().await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );
    still_there(&ts, "ack-twirp", "guest", &guest).await;

    heal_table(&dir, "revocations");
    let (status, body) = remove().await;
    assert_eq!(status, 200, "{body}");
    expect_room_left(&guest, "kicked", Some("admin")).await;
    let again = RtcClient::connect(&ts.ws, &ts.token("ack-twirp", "guest", "participant")).await;
    assert_eq!(again.err().unwrap().code.as_str(), "unauthenticated");
}

#[tokio::test]
async fn chime_delete_attendee_that_cannot_revoke_removes_nobody() {
    let (ts, dir) = server("ack-chime").await;
    let c = ChimeHttp::new(&ts.http, KEY, SECRET);
    let meeting = c.create_meeting(json!({})).await;
    let m = meeting["MeetingId"].as_str().unwrap().to_string();
    let attendee = c
        .call(
            "POST",
            &format!("/meetings/{m}/attendees"),
            "",
            json!({"ExternalUserId": "guest-user"}),
        )
        .await
        .expect_ok()["Attendee"]
        .clone();
    let id = attendee["AttendeeId"].as_str().unwrap().to_string();
    let client = RtcClient::connect(&ts.ws, attendee["JoinToken"].as_str().unwrap())
        .await
        .unwrap();
    settle(&client).await;
    let path = format!("/meetings/{m}/attendees/{id}");

    break_table(&dir, "revocations");
    c.call("DELETE", &path, "", Value::Null)
        .await
        .expect_error(500, "ServiceFailureException");
    still_there(&ts, &m, &id, &client).await;
    // Still listed: the deletion did not half-happen.
    c.call("GET", &path, "", Value::Null).await.expect_ok();

    heal_table(&dir, "revocations");
    c.call("DELETE", &path, "", Value::Null).await.expect_ok();
    expect(&client, "room_left").await;
}
