//! Locking a room.

use super::*;

fn lock(h: &mut Harness, who: &str, locked: bool) -> Result<Reply> {
    h.act(who, Command::LockRoom { locked })
}

#[test]
fn a_host_locks_and_everyone_sees_it_durably() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.take();
    assert_eq!(
        lock(&mut h, "ben", true).unwrap_err().code,
        ErrorCode::PermissionDenied,
        "a participant without the lock control"
    );
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        vec![("lock_room", Err(ErrorCode::PermissionDenied))]
    );
    lock(&mut h, "hana", true).unwrap();
    let got = h.take();
    for who in ["hana", "ben"] {
        match got.to(who) {
            [Event::RoomUpdated { room, by }] => {
                assert!(room.settings.locked);
                assert_eq!(by.as_deref(), Some("hana"));
            }
            other => panic!("{who}: {other:?}"),
        }
    }
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::SettingsChanged { settings } if settings.locked)));
    assert_eq!(got.host_actions(), vec![("lock_room", Ok(()))]);
    assert!(Command::LockRoom { locked: true }.may_write_durably());
    // Locking again changes nothing.
    lock(&mut h, "hana", true).unwrap();
    assert!(h.take().no_events());
}

#[test]
fn a_locked_room_refuses_newcomers_but_not_a_bypass_grant() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    lock(&mut h, "hana", true).unwrap();
    h.take();
    let e = h.try_join("zed", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::RoomLocked);
    assert!(e.message.contains("locked"), "{}", e.message);
    assert!(h.take().no_events(), "nobody hears of a refused join");
    let mut req = h.request("svc", PARTICIPANT);
    req.bypass_lock = true;
    h.try_join_req(req).unwrap();
    let got = h.take();
    let snapshot = &got.to("svc")[0];
    let Event::Joined { room, .. } = snapshot else {
        panic!("{snapshot:?}")
    };
    assert!(room.settings.locked, "the lock is in the snapshot");
    // A host could unlock it anyway: never locked out.
    h.join("hal", HOST);
    lock(&mut h, "hana", false).unwrap();
    h.join("zed", PARTICIPANT);
}

#[test]
fn moves_into_a_locked_room_are_refused_except_from_its_child_rooms() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    lock(&mut h, "hana", true).unwrap();
    let e = h
        .room
        .can_admit_moved(h.now, "zed", None, false)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::RoomLocked);
    h.room.can_admit_moved(h.now, "zed", None, true).unwrap();
}
