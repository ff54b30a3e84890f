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
