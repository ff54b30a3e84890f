//! The operator CLI end to end: the real `gavel` binary against a live server.

mod common;
use common::*;
use gavel_client::core::{Event, LeaveReason};
use gavel_client::RtcClient;
use serde_json::Value;

/// Runs `gavel ARGS --url <server>`; returns (exit code, stdout, stderr).
async fn gavel(ts: &TestServer, args: &[&str]) -> (i32, String, String) {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["--url".into(), ts.http.clone()]);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gavel"))
            .args(&all)
            .env_remove("GAVEL_API_KEY")
            .env_remove("GAVEL_API_SECRET")
            .output()
            .expect("run gavel")
    })
    .await
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn gavel_ok(ts: &TestServer, args: &[&str]) -> String {
    let (code, out, err) = gavel(ts, args).await;
    assert_eq!(code, 0, "gavel {args:?} failed: {err}");
    out
}

async fn gavel_json(ts: &TestServer, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    serde_json::from_str(&gavel_ok(ts, &a).await).expect("JSON output")
}

#[tokio::test]
async fn operator_workflow() {
    let ts = TestServer::start().await;

    // Rooms.
    let created = gavel_json(
        &ts,
        &[
            "room",
            "create",
            "ops",
            "--settings",
            r#"{"remote_unmute":"force"}"#,
        ],
    )
    .await;
    assert_eq!(created["room"]["settings"]["remote_unmute"], "force");
    let table = gavel_ok(&ts, &["room", "list"]).await;
    assert!(
        table.contains("ROOM") && table.contains("ops") && table.contains("force"),
        "{table}"
    );

    // A token minted by the CLI joins.
    let token = gavel_ok(
        &ts,
        &[
            "token",
            "create",
            "--room",
            "ops",
            "--identity",
            "ann",
            "--role",
            "participant",
        ],
    )
    .await;
    let ann = gavel_client::RtcClient::connect(&ts.ws, token.trim())
        .await
        .unwrap();
    let bob = ts.join("ops", "bob", "participant").await;
    ann.publish("microphone").await.unwrap();

    // Participants: list (table and JSON), mute, unmute (force), pin, update.
    let table = gavel_ok(&ts, &["participant", "list", "ops"]).await;
    assert!(
        table.contains("ann") && table.contains("microphone:on"),
        "{table}"
    );
    gavel_ok(
        &ts,
        &[
            "participant",
            "mute",
            "ops",
            "ann",
            "--source",
            "microphone",
        ],
    )
    .await;
    expect(&ann, "track_muted").await;
    let table = gavel_ok(&ts, &["participant", "get", "ops", "ann"]).await;
    assert!(table.contains("muted by cli"), "{table}");
    gavel_ok(&ts, &["participant", "mute", "ops", "ann", "--unmute"]).await;
    let list = gavel_json(&ts, &["participant", "list", "ops"]).await;
    let ann_info = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"] == "ann")
        .unwrap();
    assert_eq!(ann_info["tracks"][0]["muted"], false);
    gavel_ok(&ts, &["participant", "pin", "ops", "bob"]).await;
    assert!(
        matches!(expect(&ann, "pinned").await, Event::Pinned { identity, .. } if identity == "bob")
    );
    let updated = gavel_json(
        &ts,
        &[
            "participant",
            "update",
            "ops",
            "bob",
            "--role",
            "viewer",
            "--metadata",
            "m1",
        ],
    )
    .await;
    assert_eq!(
        (
            updated["participant"]["role"].as_str(),
            updated["participant"]["metadata"].as_str()
        ),
        (Some("viewer"), Some("m1"))
    );
    gavel_ok(&ts, &["participant", "unpin", "ops", "bob"]).await;

    // Move, kick with ban, bans, lift.
    gavel_ok(&ts, &["participant", "move", "ops", "bob", "--to", "ops-2"]).await;
    expect(&bob, "moved").await;
    // An identity that is not there: the CLI says so instead of claiming a kick.
    let out = gavel_ok(
        &ts,
        &["participant", "kick", "ops", "nobody", "--ban", "60"],
    )
    .await;
    assert!(
        out.contains("nobody was not in ops; banned them from it for 60 s"),
        "{out}"
    );
    ts.admin().lift_ban("ops", "nobody").await.unwrap();
    gavel_ok(&ts, &["participant", "kick", "ops", "ann", "--ban", "600"]).await;
    assert!(matches!(
        expect(&ann, "room_left").await,
        Event::RoomLeft {
            reason: LeaveReason::Kicked,
            ..
        }
    ));
    let bans = gavel_ok(&ts, &["bans", "ops"]).await;
    assert!(bans.contains("ann") && bans.contains("cli"), "{bans}");
    gavel_ok(&ts, &["bans", "ops", "--lift", "ann"]).await;
    assert_eq!(
        gavel_json(&ts, &["bans", "ops"]).await["bans"],
        serde_json::json!([])
    );

    // The audit log holds every action above (committed in batches: poll briefly).
    let deadline = tokio::time::Instant::now() + WAIT;
    let audit = loop {
        let table = gavel_ok(&ts, &["audit", "ops"]).await;
        if table.contains("lift_ban") || tokio::time::Instant::now() > deadline {
            break table;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    for action in [
        "mute",
        "pin",
        "update_participant",
        "move",
        "kick",
        "lift_ban",
    ] {
        assert!(audit.contains(action), "{action} missing from:\n{audit}");
    }
    // Session rows are committed in batches too, and each batch's audit entries and session rows
    // are two inserts: poll for both.
    let deadline = tokio::time::Instant::now() + WAIT;
    let sessions = loop {
        let table = gavel_ok(&ts, &["sessions", "ops"]).await;
        let both = table.contains("kicked") && table.contains("moved");
        if both || tokio::time::Instant::now() > deadline {
            break table;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        sessions.contains("kicked") && sessions.contains("moved"),
        "{sessions}"
    );

    // Lock and unlock: the room's list says so, and everyone there hears of it.
    let out = gavel_ok(&ts, &["room", "lock", "ops-2"]).await;
    assert!(out.contains("locked ops-2"), "{out}");
    let listed = gavel_ok(&ts, &["room", "list"]).await;
    let row = listed.lines().find(|l| l.contains("ops-2"));
    assert!(row.is_some_and(|r| r.contains("locked")), "{listed}");
    let seen = bob
        .wait_for(
            WAIT,
            |e| matches!(e, Event::RoomUpdated { room, .. } if room.settings.locked),
        )
        .await;
    assert!(seen.is_ok(), "{seen:?}");
    gavel_ok(&ts, &["room", "unlock", "ops-2"]).await;

    // The waiting room: on, who waits (and the count in the list), admit one, deny the other.
    let out = gavel_ok(&ts, &["room", "waiting-room", "ops-2", "on"]).await;
    assert!(out.contains("waiting room on"), "{out}");
    let wes = RtcClient::connect(&ts.ws, &ts.token("ops-2", "wes", "participant"))
        .await
        .unwrap();
    let xia = RtcClient::connect(&ts.ws, &ts.token("ops-2", "xia", "participant"))
        .await
        .unwrap();
    assert!(wes.is_waiting() && xia.is_waiting());
    let waiting = gavel_ok(&ts, &["room", "waiting", "ops-2"]).await;
    assert!(
        waiting.contains("wes") && waiting.contains("xia"),
        "{waiting}"
    );
    let listed = gavel_ok(&ts, &["room", "list"]).await;
    assert!(listed.contains("WAITING"), "{listed}");
    let (code, _, err) = gavel(&ts, &["room", "admit", "ops-2"]).await;
    assert_ne!(code, 0, "admit names nobody: {err}");
    let out = gavel_ok(&ts, &["room", "admit", "ops-2", "wes"]).await;
    assert!(out.contains("admitted wes"), "{out}");
    expect(&wes, "joined").await;
    let out = gavel_ok(
        &ts,
        &["room", "deny", "ops-2", "xia", "--message", "full today"],
    )
    .await;
    assert!(out.contains("denied xia"), "{out}");
    expect(&xia, "room_left").await;
    assert_eq!(xia.state().left_message.as_deref(), Some("full today"));
    gavel_ok(&ts, &["room", "waiting-room", "ops-2", "off"]).await;

    // Breakout rooms: open one (everyone there but hosts goes), message it, close it.
    let out = gavel_ok(
        &ts,
        &[
            "room",
            "breakouts",
            "ops-2",
            "open",
            "--count",
            "1",
            "--countdown",
            "0",
        ],
    )
    .await;
    assert!(out.contains("ops-2-breakout-1"), "{out}");
    expect(&wes, "moved").await;
    gavel_ok(
        &ts,
        &["room", "breakouts", "ops-2", "broadcast", "back soon"],
    )
    .await;
    expect(&wes, "breakout_broadcast").await;
    let out = gavel_ok(&ts, &["room", "breakouts", "ops-2", "close"]).await;
    assert!(out.contains("closing"), "{out}");
    let back = wes
        .wait_for(
            WAIT,
            |e| matches!(e, Event::Joined { room, .. } if room.name == "ops-2"),
        )
        .await;
    assert!(back.is_ok(), "{back:?}");

    // mute-all and end on the destination room.
    let v = gavel_json(&ts, &["room", "mute-all", "ops-2", "--source", "camera"]).await;
    assert_eq!(v["changed"], 0);
    gavel_ok(&ts, &["room", "end", "ops-2"]).await;
    assert!(matches!(
        expect(&bob, "room_left").await,
        Event::RoomLeft {
            reason: LeaveReason::Ended,
            ..
        }
    ));
    gavel_ok(&ts, &["room", "delete", "ops"]).await;
    ts.stop().await;
}

#[tokio::test]
async fn failures_exit_non_zero_with_the_server_message() {
    let ts = TestServer::start().await;
    let (code, _, err) = gavel(&ts, &["participant", "get", "nowhere", "x"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("room 'nowhere' does not exist (not_found)"),
        "{err}"
    );
    let (code, _, err) = gavel(&ts, &["room", "list", "--api-secret", "wrong"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("unauthenticated"), "{err}");
    let (code, _, err) = gavel(&ts, &["room", "create", "x", "--settings", "{nope"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--settings is not valid JSON"), "{err}");
    ts.stop().await;
}

/// `gavel webhooks`: add, list, test, deliveries, replay, remove.
#[tokio::test]
async fn webhook_endpoints_from_the_command_line() {
    use common::webhook_receiver::{Mode, Receiver};
    let receiver = Receiver::start(Mode::Accept).await;
    let ts = TestServer::start().await;
    gavel_ok(
        &ts,
        &[
            "webhooks",
            "add",
            "ops",
            &receiver.url,
            "--events",
            "participant_joined,participant_left",
        ],
    )
    .await;
    let table = gavel_ok(&ts, &["webhooks", "list"]).await;
    assert!(
        table.contains("ops")
            && table.contains("participant_joined,participant_left")
            && table.contains("api"),
        "{table}"
    );
    let test = gavel_json(&ts, &["webhooks", "test", "ops"]).await;
    let id = test["event_id"].as_str().unwrap().to_string();
    receiver
        .wait_for(std::time::Duration::from_secs(30), "the test event", |b| {
            b.iter().any(|e| e["id"] == id.as_str())
        })
        .await;
    let log = gavel_ok(&ts, &["webhooks", "deliveries", "ops"]).await;
    assert!(log.contains(&id) && log.contains("delivered"), "{log}");
    let replayed = gavel_ok(&ts, &["webhooks", "replay", "ops", &id]).await;
    assert!(replayed.contains("queued 1 of 1"), "{replayed}");
    let (code, _, err) = gavel(&ts, &["webhooks", "remove", "nope"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("no webhook endpoint 'nope' (not_found)"),
        "{err}"
    );
    gavel_ok(&ts, &["webhooks", "remove", "ops"]).await;
    let table = gavel_ok(&ts, &["webhooks", "list"]).await;
    assert!(!table.contains("ops"), "{table}");
    ts.stop().await;
}
