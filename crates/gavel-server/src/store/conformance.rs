//! What every store backend must do, as functions each backend's tests run against a fresh,
//! empty store of its own (SQLite's unit tests; PostgreSQL's in `tests/postgres_store.rs`).
//! They panic on the first difference.

use super::{AuditEntry, SessionRecord, Store, StoredBan};
use crate::chime::store::{ChimeAttendee, ChimeMeeting, ChimeStore};
use gavel_core::{Capabilities, RoomSettings};
use serde_json::json;

pub fn rooms_bans_audit_sessions_round_trip(s: &impl Store) {
    let settings = RoomSettings {
        max_participants: 7,
        ..Default::default()
    };
    s.save_room("a", &settings).unwrap();
    assert_eq!(s.rooms().unwrap(), vec![("a".to_string(), settings)]);
    let ban = StoredBan {
        room: "a".into(),
        identity: "troll".into(),
        until: 2_000,
        by: "host".into(),
    };
    s.save_ban(&ban).unwrap();
    assert_eq!(s.bans("a", 1_000).unwrap(), vec![ban.clone()]);
    assert!(
        s.bans("a", 2_000).unwrap().is_empty(),
        "expired bans are not in force"
    );
    s.lift_ban("a", "troll").unwrap();
    assert!(s.bans("a", 0).unwrap().is_empty());
    s.revoke_tokens("a", "x", 10).unwrap();
    s.revoke_tokens("a", "x", 5).unwrap();
    assert_eq!(s.revocations("a").unwrap(), vec![("x".to_string(), 10)]);

    let entry = |i: u64| AuditEntry {
        id: 0,
        at: i,
        room: "a".into(),
        actor: "host".into(),
        action: "mute".into(),
        targets: vec!["bob".into()],
        params: serde_json::json!({"source": "microphone"}),
        outcome: "ok".into(),
        message: None,
        suppressed: 0,
    };
    s.append_audit(&(1..=5).map(entry).collect::<Vec<_>>())
        .unwrap();
    let page = s.audit("a", None, None, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.at).collect::<Vec<_>>(), [5, 4]);
    let next = s.audit("a", None, Some(page[1].id), 10).unwrap();
    assert_eq!(next.iter().map(|e| e.at).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(s.audit("a", Some(4), None, 10).unwrap().len(), 2);
    assert_eq!(next[0].params["source"], "microphone");

    s.append_sessions(&[SessionRecord {
        id: 0,
        room: "a".into(),
        identity: "bob".into(),
        sid: "PA_1".into(),
        joined_at: 1,
        left_at: 9,
        reason: "left".into(),
        speaking_time_ms: 400,
    }])
    .unwrap();
    assert_eq!(s.sessions("a", None, 10).unwrap()[0].speaking_time_ms, 400);
    s.delete_room("a").unwrap();
    assert!(s.rooms().unwrap().is_empty());
}

/// Settings changed on a room a join created are kept apart from the API's rooms, until the
/// room closes; an API room's go to its own row.
pub fn joined_room_settings(s: &impl Store) {
    let locked = RoomSettings {
        locked: true,
        ..Default::default()
    };
    assert_eq!(s.joined_room_settings("met").unwrap(), None);
    s.update_room_settings("met", &locked).unwrap();
    assert_eq!(s.joined_room_settings("met").unwrap(), Some(locked.clone()));
    assert!(s.rooms().unwrap().is_empty(), "not an API room");
    s.save_room("api", &RoomSettings::default()).unwrap();
    s.update_room_settings("api", &locked).unwrap();
    assert_eq!(s.joined_room_settings("api").unwrap(), None);
    assert_eq!(s.rooms().unwrap(), [("api".to_string(), locked)]);
    s.forget_joined_room("met").unwrap();
    assert_eq!(s.joined_room_settings("met").unwrap(), None);
}

pub fn rooms_holding_state(s: &impl Store) {
    let ban = |room: &str, until| StoredBan {
        room: room.into(),
        identity: "troll".into(),
        until,
        by: "host".into(),
    };
    s.save_ban(&ban("banned", 2_000)).unwrap();
    s.save_ban(&ban("expired", 500)).unwrap();
    s.save_preset(
        "preset",
        "x",
        Some(&Capabilities::of(&gavel_core::Permissions::default())),
    )
    .unwrap();
    s.revoke_tokens("revoked", "x", 10).unwrap();
    s.revoke_tokens("deleted", gavel_core::EVERY_IDENTITY, 10)
        .unwrap();
    s.save_room("api", &RoomSettings::default()).unwrap();
    s.save_ban(&ban("api", 2_000)).unwrap();
    assert_eq!(
        s.rooms_holding_state(1_000).unwrap(),
        ["banned", "preset", "revoked"],
        "rooms created through the API are restored as such"
    );
    assert!(s.holds_state("banned", 1_000).unwrap());
    assert!(!s.holds_state("banned", 2_000).unwrap(), "the ban expired");
    assert!(!s.holds_state("deleted", 1_000).unwrap());
    assert!(s.holds_state("api", 1_000).unwrap());
}

pub fn pruning(s: &impl Store) {
    let entry = |at: u64| AuditEntry {
        id: 0,
        at,
        room: "a".into(),
        actor: "guest".into(),
        action: "kick".into(),
        targets: vec![],
        params: serde_json::json!({}),
        outcome: "permission_denied".into(),
        message: None,
        suppressed: 3,
    };
    s.append_audit(&(1..=100).map(entry).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(s.audit("a", None, None, 1).unwrap()[0].suppressed, 3);
    let ats = |s: &dyn Store| -> Vec<u64> {
        let mut v: Vec<u64> = s
            .audit("a", None, None, 1000)
            .unwrap()
            .iter()
            .map(|e| e.at)
            .collect();
        v.reverse();
        v
    };
    // By age: entries written before 31 go, 10 per step.
    assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
    assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
    assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 10);
    assert_eq!(s.prune_audit(Some(31), None, 10).unwrap(), 0);
    assert_eq!(ats(s).first(), Some(&31));
    // By count: only the newest 25 stay.
    assert_eq!(s.prune_audit(None, Some(25), 1000).unwrap(), 45);
    assert_eq!(ats(s), (76..=100).collect::<Vec<_>>());
    assert_eq!(s.prune_audit(None, None, 1000).unwrap(), 0);
}

pub fn chime_meetings(s: &(impl Store + ChimeStore)) {
    let m = ChimeMeeting {
        meeting_id: "m1".into(),
        client_request_token: "tok".into(),
        fingerprint: "{}".into(),
        meeting: json!({"MeetingId": "m1"}),
    };
    s.save_meeting(&m, &RoomSettings::default()).unwrap();
    assert_eq!(s.meeting_by_token("tok").unwrap(), Some(m.clone()));
    assert_eq!(
        s.rooms().unwrap().len(),
        1,
        "the room is kept with the meeting"
    );
    let a = s
        .save_attendee(&ChimeAttendee {
            seq: 0,
            meeting_id: "m1".into(),
            attendee_id: "a1".into(),
            external_user_id: "ext".into(),
            join_token: "jt".into(),
        })
        .unwrap();
    assert!(a.seq > 0);
    assert_eq!(s.attendee_by_external_id("m1", "ext").unwrap(), Some(a));
    assert_eq!(s.count_attendees("m1").unwrap(), 1);
    s.end_meeting("m1", 1_000).unwrap();
    assert_eq!(s.meeting("m1").unwrap(), None);
    assert_eq!(s.count_attendees("m1").unwrap(), 0);
    assert!(s.rooms().unwrap().is_empty());
    assert_eq!(
        s.revocations("m1").unwrap(),
        [(gavel_core::EVERY_IDENTITY.to_string(), 1_000)],
        "every join token of the meeting stays void"
    );
    assert!(
        s.rooms_holding_state(0).unwrap().is_empty(),
        "an ended meeting is not reopened"
    );
}

/// The webhook outbox: endpoints, heads per room in order, retries, settling with a bounded
/// log, trimming by age and count, replays, and (for a store a single process uses) claims.
pub fn webhook_outbox(s: &impl crate::webhooks::store::WebhookStore) {
    use crate::webhooks::config::EndpointConfig;
    use crate::webhooks::store::{DeliveryRecord, NewOutboxRow};
    let endpoint = EndpointConfig {
        name: "e".into(),
        url: "http://127.0.0.1:1/h".into(),
        events: vec![],
        api_key: None,
    };
    assert!(s.webhook_add_endpoint(&endpoint, 1).unwrap());
    assert!(
        !s.webhook_add_endpoint(&endpoint, 2).unwrap(),
        "names are unique"
    );
    assert_eq!(s.webhook_endpoints().unwrap(), vec![endpoint]);

    let row = |room: &str, id: &str, at: u64| NewOutboxRow {
        endpoint: "e".into(),
        room: room.into(),
        event_id: id.into(),
        kind: "test".into(),
        created_at: at,
        body: format!("{{\"id\":\"{id}\"}}"),
    };
    s.webhook_enqueue(&[row("a", "1", 10), row("b", "2", 11), row("a", "3", 12)])
        .unwrap();
    let ids = |rows: Vec<crate::webhooks::store::OutboxRow>| -> Vec<String> {
        rows.into_iter().map(|r| r.event_id).collect()
    };
    // One head per room, oldest first.
    assert_eq!(ids(s.webhook_due("e", 100, 10).unwrap()), ["1", "2"]);
    assert_eq!(s.webhook_pending_count("e").unwrap(), 3);
    // A failed head holds its room back, not the others.
    let head = s.webhook_due("e", 100, 10).unwrap().remove(0);
    s.webhook_retry(head.id, 1, 500, "HTTP 500").unwrap();
    assert_eq!(ids(s.webhook_due("e", 100, 10).unwrap()), ["2"]);
    assert_eq!(s.webhook_next_at("e").unwrap(), Some(0));
    let b = s.webhook_due("e", 100, 10).unwrap().remove(0);
    let delivered = |r: &crate::webhooks::store::OutboxRow| DeliveryRecord::delivered(r, 200, 200);
    s.webhook_settle(b.id, &delivered(&b), 1).unwrap();
    assert!(s.webhook_due("e", 100, 10).unwrap().is_empty());
    assert_eq!(s.webhook_next_at("e").unwrap(), Some(500));
    let retried = s.webhook_due("e", 500, 10).unwrap();
    assert_eq!(ids(retried.clone()), ["1"]);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].last_error.as_deref(), Some("HTTP 500"));
    s.webhook_settle(retried[0].id, &delivered(&retried[0]), 1)
        .unwrap();
    assert_eq!(ids(s.webhook_due("e", 500, 10).unwrap()), ["3"]);
    // The log keeps the newest `log_rows` (1 here).
    let log = s.webhook_log("e", None, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].event_id.as_str(), log[0].status), ("1", Some(200)));

    // Replays queue a logged event again; unknown ids are skipped.
    assert_eq!(
        s.webhook_replay("e", &["1".into(), "nope".into()], 600)
            .unwrap(),
        ["1"]
    );
    assert_eq!(ids(s.webhook_pending("e", 0, 10).unwrap()), ["3", "1"]);

    // Trimming: by age (created before 12), then by count.
    s.webhook_enqueue(&[row("c", "4", 700), row("c", "5", 701)])
        .unwrap();
    assert_eq!(s.webhook_trim("e", 12, 100, 800, 10).unwrap(), 0);
    assert_eq!(
        s.webhook_trim("e", 13, 100, 800, 10).unwrap(),
        1,
        "3 is too old"
    );
    assert_eq!(
        s.webhook_trim("e", 13, 2, 800, 10).unwrap(),
        1,
        "the oldest beyond 2"
    );
    assert_eq!(ids(s.webhook_pending("e", 0, 10).unwrap()), ["4", "5"]);
    let dropped: Vec<(String, String)> = s
        .webhook_log("e", None, 10)
        .unwrap()
        .into_iter()
        .filter(|d| d.outcome == "dropped")
        .map(|d| (d.event_id, d.error.unwrap_or_default()))
        .collect();
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(dropped
        .iter()
        .any(|(id, e)| id == "3" && e.contains("retry period")));
    assert!(dropped
        .iter()
        .any(|(id, e)| id == "1" && e.contains("outbox was full")));

    // Claims: one node at a time.
    assert!(s.webhook_claim("e", "n1", 60_000).unwrap());
    assert!(s.webhook_claim("e", "n1", 60_000).unwrap(), "renewed");

    // Removing the endpoint forgets its events and log.
    assert!(s.webhook_remove_endpoint("e").unwrap());
    assert!(!s.webhook_remove_endpoint("e").unwrap());
    assert_eq!(s.webhook_pending_count("e").unwrap(), 0);
    assert!(s.webhook_log("e", None, 10).unwrap().is_empty());
}
