//! The waiting room. The harness itself fails any test in which a waiting session receives
//! anything but its own status or the end of its session.

use super::*;
use crate::event::{WaitOutcome, WaiterInfo};

fn with_waiting_room() -> Harness {
    let mut settings = RoomSettings::default();
    settings.waiting_room.enabled = true;
    let mut h = Harness::settings(settings);
    h.join("hana", HOST);
    h.take();
    h
}

fn admit(identities: &[&str]) -> Command {
    Command::Admit {
        identities: identities.iter().map(|s| s.to_string()).collect(),
        all: false,
    }
}

fn deny(identities: &[&str], message: Option<&str>, ban_seconds: Option<u64>) -> Command {
    Command::Deny {
        identities: identities.iter().map(|s| s.to_string()).collect(),
        all: false,
        message: message.map(str::to_string),
        ban_seconds,
    }
}

fn waiter_of(got: &Got, who: &str) -> WaiterInfo {
    match got.to(who) {
        [Event::WaiterAdded { waiter }, ..] => waiter.clone(),
        other => panic!("{who}: {other:?}"),
    }
}

#[test]
fn a_waiter_learns_only_its_own_status_and_holders_of_admit_see_it_arrive() {
    let mut h = with_waiting_room();
    // Someone already in without `admit` (the waiting room was turned on after they came).
    let mut p = h.request("carl", PARTICIPANT);
    p.bypass_waiting_room = true;
    h.try_join_req(p).unwrap();
    h.take();

    let sid = h.join("ben", PARTICIPANT);
    let got = h.take();
    match got.to("ben") {
        [Event::Waiting { room, me }] => {
            assert_eq!(room, "room-a");
            assert_eq!(me.identity, "ben");
            assert_eq!(me.sid, sid);
            assert_eq!(me.until, T0 + 600_000);
        }
        other => panic!("ben: {other:?}"),
    }
    assert_eq!(waiter_of(&got, "hana").identity, "ben");
    assert_eq!(
        got.to("hana")[1..].to_vec(),
        vec![Event::CountsUpdated {
            present: 2,
            hidden: 0,
            waiting: 1
        }]
    );
    assert_eq!(
        got.to("carl"),
        &[Event::CountsUpdated {
            present: 2,
            hidden: 0,
            waiting: 1
        }],
        "without admit, only the count"
    );
    assert!(
        h.room.participant("ben").is_none(),
        "a waiter is not listed"
    );
    assert_eq!(h.room.counts().waiting, 1);
    assert!(h.room.is_waiting(&sid));
    assert_eq!(h.room.participants().count(), 2);
}

#[test]
fn an_admitted_waiter_joins_like_anyone_and_hosts_see_it_leave_the_queue() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.take();
    let r = results(h.act("hana", admit(&["ben"])));
    assert!(r["ben"].ok);
    let got = h.take();
    assert_eq!(got.kinds("ben"), vec!["joined"]);
    match &got.to("ben")[0] {
        Event::Joined { me, counts, .. } => {
            assert_eq!(me.identity, "ben");
            assert_eq!(counts.waiting, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got.kinds("hana"),
        vec!["participant_joined", "counts_updated", "waiters_removed"]
    );
    assert_eq!(
        got.to("hana")[2],
        Event::WaitersRemoved {
            identities: vec!["ben".into()],
            outcome: WaitOutcome::Admitted,
            by: Some("hana".into())
        }
    );
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::WaiterAdmitted { .. })));
    assert_eq!(got.host_actions(), vec![("admit", Ok(()))]);
    assert!(h.room.participant("ben").is_some());
    // Admitting someone not waiting.
    let r = results(h.act("hana", admit(&["ben", "nobody"])));
    assert_eq!(result_code(&r, "nobody"), Some(ErrorCode::NotFound));
}

#[test]
fn only_holders_of_admit_admit_deny_or_list_and_a_waiter_may_only_leave() {
    let mut h = with_waiting_room();
    let mut p = h.request("carl", PARTICIPANT);
    p.bypass_waiting_room = true;
    h.try_join_req(p).unwrap();
    h.join("ben", PARTICIPANT);
    h.take();
    for c in [
        admit(&["ben"]),
        deny(&["ben"], None, None),
        Command::ListWaiting,
    ] {
        assert_eq!(err_code(h.act("carl", c)), ErrorCode::PermissionDenied);
    }
    assert_eq!(h.room.counts().waiting, 1);
    // The waiter cannot act in the room, nor send media, nor admit itself.
    for c in [
        Command::RaiseHand { raised: true },
        admit(&["ben"]),
        Command::PublishTrack {
            source: Source::Microphone,
            muted: false,
            name: None,
        },
    ] {
        assert_eq!(err_code(h.act("ben", c)), ErrorCode::FailedPrecondition);
    }
    assert!(matches!(
        h.act("ben", Command::Ping),
        Ok(Reply::Pong { .. })
    ));
    match h.act("hana", Command::ListWaiting) {
        Ok(Reply::Waiting { waiting }) => assert_eq!(waiting[0].identity, "ben"),
        other => panic!("{other:?}"),
    }
    h.take();
    h.act("ben", Command::Leave).unwrap();
    let got = h.take();
    assert!(got.to("ben").is_empty());
    assert_eq!(got.disconnects().len(), 1);
    assert!(got.to("hana").contains(&Event::WaitersRemoved {
        identities: vec!["ben".into()],
        outcome: WaitOutcome::Left,
        by: None
    }));
    assert_eq!(h.room.counts().waiting, 0);
}

#[test]
fn a_denial_tells_the_waiter_why_and_may_ban_it_so_it_never_reaches_the_queue_again() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.take();
    assert!(deny(&["ben"], None, Some(60)).may_write_durably());
    assert!(!deny(&["ben"], None, None).may_write_durably());
    let r = results(h.act("hana", deny(&["ben"], Some("not on the list"), Some(60))));
    assert!(r["ben"].ok);
    let got = h.take();
    assert_eq!(
        got.to("ben"),
        &[Event::RoomLeft {
            reason: LeaveReason::Denied,
            by: Some("hana".into()),
            message: Some("not on the list".into())
        }]
    );
    assert_eq!(got.disconnects()[0].1, LeaveReason::Denied);
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::BanChanged { identity, .. } if identity == "ben")));
    assert!(got.to("hana").contains(&Event::WaitersRemoved {
        identities: vec!["ben".into()],
        outcome: WaitOutcome::Denied,
        by: Some("hana".into())
    }));
    let e = h.try_join("ben", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::Banned);
    assert!(
        h.take().no_events(),
        "a banned identity never reaches the queue"
    );
    // A message too long is refused and changes nothing.
    h.join("dan", PARTICIPANT);
    h.take();
    let long = "x".repeat(crate::room::waiting::MAX_DENY_MESSAGE + 1);
    assert_eq!(
        err_code(h.act("hana", deny(&["dan"], Some(&long), None))),
        ErrorCode::InvalidArgument
    );
    assert_eq!(h.room.counts().waiting, 1);
    // Naming nobody, or both a list and everyone, is refused.
    let both = Command::Admit {
        identities: vec!["dan".into()],
        all: true,
    };
    assert_eq!(err_code(h.act("hana", both)), ErrorCode::InvalidArgument);
    assert_eq!(
        err_code(h.act("hana", admit(&[]))),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn banning_or_revoking_a_waiting_identity_turns_it_away() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.join("dan", PARTICIPANT);
    h.take();
    let kick = Command::Kick {
        identity: Some("ben".into()),
        identities: None,
        ban_seconds: Some(60),
        revoke_tokens: false,
        revoke_before: None,
        require_present: false,
    };
    h.act("hana", kick).unwrap();
    let got = h.take();
    assert!(matches!(
        got.to("ben"),
        [Event::RoomLeft {
            reason: LeaveReason::Kicked,
            ..
        }]
    ));
    h.act(
        "hana",
        Command::RevokeTokens {
            identity: "dan".into(),
            before: None,
        },
    )
    .unwrap();
    let got = h.take();
    assert!(matches!(got.to("dan"), [Event::RoomLeft { .. }]));
    assert_eq!(h.room.counts().waiting, 0);
}

#[test]
fn a_wait_times_out() {
    let mut settings = RoomSettings::default();
    settings.waiting_room.enabled = true;
    settings.waiting_room.timeout_seconds = 30;
    let mut h = Harness::settings(settings);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.advance(10_000);
    h.join("dan", PARTICIPANT);
    h.take();
    assert_eq!(h.room.poll_timeout(), Some(T0 + 30_000));
    h.advance(20_000);
    let got = h.take();
    match got.to("ben") {
        [Event::RoomLeft {
            reason: LeaveReason::WaitingTimeout,
            message: Some(m),
            ..
        }] => assert!(m.contains("30 s"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(got.to("dan").is_empty(), "dan has 10 s left");
    assert!(got.to("hana").contains(&Event::WaitersRemoved {
        identities: vec!["ben".into()],
        outcome: WaitOutcome::TimedOut,
        by: None
    }));
    h.advance(10_000);
    assert_eq!(h.take().disconnects().len(), 1);
    assert_eq!(h.room.counts().waiting, 0);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn admitting_everyone_is_one_event_to_each_holder_of_admit() {
    let mut h = with_waiting_room();
    for who in ["a1", "a2", "a3"] {
        h.join(who, PARTICIPANT);
    }
    h.take();
    let r = results(h.act(
        "hana",
        Command::Admit {
            identities: vec![],
            all: true,
        },
    ));
    assert_eq!(r.len(), 3);
    let got = h.take();
    let removed: Vec<&Event> = got
        .to("hana")
        .iter()
        .filter(|e| matches!(e, Event::WaitersRemoved { .. }))
        .collect();
    assert_eq!(
        removed,
        vec![&Event::WaitersRemoved {
            identities: vec!["a1".into(), "a2".into(), "a3".into()],
            outcome: WaitOutcome::Admitted,
            by: Some("hana".into())
        }],
        "in the order they came"
    );
    for who in ["a1", "a2", "a3"] {
        assert_eq!(got.to(who)[0].kind(), "joined", "{who}");
    }
}

#[test]
fn some_enter_directly_roles_grants_and_holders_of_admit() {
    let mut settings = RoomSettings::default();
    settings.waiting_room.enabled = true;
    settings.waiting_room.enter_directly = vec![VIEWER.into()];
    let mut h = Harness::settings(settings);
    // A host holds admit: never kept waiting, even though its role is not listed.
    h.join("hana", HOST);
    h.join("vic", VIEWER);
    let mut svc = h.request("svc", PARTICIPANT);
    svc.bypass_waiting_room = true;
    h.try_join_req(svc).unwrap();
    h.join("ben", PARTICIPANT);
    for who in ["hana", "vic", "svc"] {
        assert!(h.room.participant(who).is_some(), "{who}");
    }
    assert!(h.room.participant("ben").is_none());
    assert_eq!(h.room.counts().waiting, 1);
}

#[test]
fn a_locked_room_closes_the_queue_to_newcomers_but_those_waiting_may_still_be_let_in() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.act("hana", Command::LockRoom { locked: true }).unwrap();
    h.take();
    let e = h.try_join("zed", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::RoomLocked);
    assert!(h.take().no_events());
    assert_eq!(h.room.counts().waiting, 1);
    assert!(results(h.act("hana", admit(&["ben"])))["ben"].ok);
    assert!(h.room.participant("ben").is_some());
}

#[test]
fn the_queue_outlives_its_hosts_and_the_next_one_sees_it_in_its_snapshot() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.disconnect("hana");
    h.take();
    assert_eq!(h.room.counts().waiting, 1);
    assert!(
        !h.room.is_empty(),
        "a room with someone waiting is not empty"
    );
    h.join("hugo", HOST);
    let got = h.take();
    match &got.to("hugo")[0] {
        Event::Joined {
            waiters, counts, ..
        } => {
            assert_eq!(waiters.len(), 1);
            assert_eq!(waiters[0].identity, "ben");
            assert_eq!(counts.waiting, 1);
        }
        other => panic!("{other:?}"),
    }
    // A participant's snapshot carries no waiters.
    h.act("hugo", admit(&["ben"])).unwrap();
    let got = h.take();
    assert!(matches!(&got.to("ben")[0], Event::Joined { waiters, .. } if waiters.is_empty()));
}

#[test]
fn turning_the_waiting_room_off_lets_everyone_in_and_is_stored() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.join("dan", PARTICIPANT);
    h.take();
    assert!(Command::SetWaitingRoom { enabled: false }.may_write_durably());
    h.act("hana", Command::SetWaitingRoom { enabled: false })
        .unwrap();
    let got = h.take();
    assert!(got.effects.iter().any(
        |o| matches!(o, Output::SettingsChanged { settings } if !settings.waiting_room.enabled)
    ));
    assert!(matches!(&got.to("hana")[0], Event::RoomUpdated { .. }));
    for who in ["ben", "dan"] {
        assert_eq!(got.to(who)[0].kind(), "joined");
    }
    h.join("eve", PARTICIPANT);
    assert!(h.room.participant("eve").is_some());
}

#[test]
fn a_waiter_whose_connection_closes_leaves_the_queue_and_the_same_identity_replaces_its_wait() {
    let mut h = with_waiting_room();
    h.join("ben", PARTICIPANT);
    h.take();
    h.join("ben", PARTICIPANT);
    let got = h.take();
    assert!(matches!(
        got.to("ben~old"),
        [Event::RoomLeft {
            reason: LeaveReason::Replaced,
            ..
        }]
    ));
    assert_eq!(got.kinds("ben"), vec!["waiting"]);
    assert_eq!(h.room.counts().waiting, 1);
    h.disconnect("ben");
    let got = h.take();
    assert!(got.to("hana").contains(&Event::WaitersRemoved {
        identities: vec!["ben".into()],
        outcome: WaitOutcome::Left,
        by: None
    }));
    assert_eq!(h.room.counts().waiting, 0);
    assert!(h.room.waiting().is_empty());
}

#[test]
fn ending_the_session_ends_every_wait_and_the_queue_is_bounded() {
    let mut settings = RoomSettings::default();
    settings.waiting_room.enabled = true;
    settings.waiting_room.max_waiting = 2;
    let mut h = Harness::settings(settings);
    h.join("hana", HOST);
    h.join("a1", PARTICIPANT);
    h.join("a2", PARTICIPANT);
    let e = h.try_join("a3", PARTICIPANT).unwrap_err();
    assert_eq!(e.code, ErrorCode::RoomFull);
    assert!(e.message.contains("waiting room"), "{}", e.message);
    h.take();
    h.act("hana", Command::EndSession).unwrap();
    let got = h.take();
    for who in ["a1", "a2"] {
        assert!(matches!(
            got.to(who),
            [Event::RoomLeft {
                reason: LeaveReason::Ended,
                ..
            }]
        ));
    }
    assert!(h.room.is_empty());
}

#[test]
fn waiting_room_settings_are_validated() {
    let mut s = RoomSettings::default();
    s.waiting_room.timeout_seconds = 0;
    assert_eq!(s.validate().unwrap_err().code, ErrorCode::InvalidArgument);
    let mut s = RoomSettings::default();
    s.waiting_room.max_waiting = crate::settings::MAX_WAITING + 1;
    assert_eq!(s.validate().unwrap_err().code, ErrorCode::InvalidArgument);
    let mut s = RoomSettings::default();
    s.waiting_room.enter_directly = vec!["nope".into()];
    assert!(s.validate().is_ok());
    assert!(s.validate_with(&Roles::default()).is_err());
}
