//! When the last host leaves: keep, end, promote; the grace period and its cancellation.

use super::*;
use crate::settings::{HostLeftAction, HostLeftPolicy};

const GRACE: Millis = 60_000;

/// What `who` got, by kind, counts aside.
fn kinds(got: &Got, who: &str) -> Vec<&'static str> {
    got.kinds(who)
        .into_iter()
        .filter(|k| *k != "counts_updated")
        .collect()
}

fn room(action: HostLeftAction) -> Harness {
    Harness::settings(RoomSettings {
        host_left: Box::new(HostLeftPolicy {
            action,
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[test]
fn keep_does_nothing_when_the_host_leaves() {
    let mut h = room(HostLeftAction::Keep);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.take();
    h.disconnect("hana");
    assert_eq!(kinds(&h.take(), "ben"), vec!["participant_left"]);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn end_ends_the_session_for_everyone_after_the_grace_period() {
    let mut h = room(HostLeftAction::End);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.join("cy", VIEWER);
    h.take();
    h.act("hana", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(kinds(&got, "ben"), vec!["participant_left", "host_left"]);
    let at = match got.to("cy").last() {
        Some(Event::HostLeft {
            action: HostLeftAction::End,
            at,
        }) => *at,
        other => panic!("{other:?}"),
    };
    assert_eq!(at, h.now + GRACE);
    assert_eq!(h.room.info().host_left_at, Some(at), "in the snapshot");
    h.advance(GRACE - 1);
    assert!(h.take().no_events(), "not before its time");
    h.advance(1);
    let got = h.take();
    for who in ["ben", "cy"] {
        assert_eq!(
            got.to(who),
            [Event::RoomLeft {
                reason: LeaveReason::HostLeft,
                by: None,
                message: None,
            }]
        );
    }
    assert_eq!(got.host_actions(), vec![("end_session", Ok(()))]);
    assert!(h.room.is_empty());
}

#[test]
fn a_host_who_comes_back_in_time_calls_it_off() {
    let mut h = room(HostLeftAction::End);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.disconnect("hana");
    h.advance(GRACE / 2);
    h.take();
    h.join("hana", HOST);
    let got = h.take();
    assert_eq!(
        kinds(&got, "ben"),
        vec!["participant_joined", "host_returned"]
    );
    assert_eq!(h.room.info().host_left_at, None);
    h.advance(GRACE);
    assert!(h.take().no_events(), "nothing happens at the old deadline");
    assert_eq!(h.room.participants().count(), 2);
}

#[test]
fn a_host_is_whoever_holds_the_controls_and_a_demoted_host_counts_as_gone() {
    let mut h = room(HostLeftAction::End);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.take();
    // Ben is given kick (the default host control): two hosts now.
    let patch = PermissionsPatch {
        host: Some([HostControl::Kick].into_iter().collect()),
        ..Default::default()
    };
    let update = |permissions| Command::UpdateParticipant {
        identity: "ben".into(),
        permissions: Some(permissions),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    };
    h.server(update(patch)).unwrap();
    h.disconnect("hana");
    assert!(
        !h.take().kinds("ben").contains(&"host_left"),
        "ben is a host"
    );
    // Ben loses it: the room has no host any more.
    let patch = PermissionsPatch {
        host: Some(Default::default()),
        ..Default::default()
    };
    h.server(update(patch)).unwrap();
    assert!(h.take().kinds("ben").contains(&"host_left"));
}

#[test]
fn a_room_that_never_had_a_host_has_none_to_lose() {
    let mut h = room(HostLeftAction::End);
    h.join("ann", PARTICIPANT);
    h.join("ben", PARTICIPANT);
    h.disconnect("ann");
    assert!(!h.take().kinds("ben").contains(&"host_left"));
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn promote_gives_the_host_role_to_the_longest_present_participant() {
    let mut h = room(HostLeftAction::Promote);
    h.join("zoe", PARTICIPANT);
    h.advance(10);
    h.join("hana", HOST);
    h.advance(10);
    h.join("ann", PARTICIPANT);
    h.join("vic", VIEWER);
    h.take();
    h.disconnect("hana");
    h.take();
    h.advance(GRACE);
    let got = h.take();
    // Zoe joined first (ann's name comes first, but she came later; vic is no participant).
    match got.to("ann") {
        [Event::ParticipantUpdated {
            participant,
            changed,
            by: None,
            reason,
        }] => {
            assert_eq!(participant.identity, "zoe");
            assert_eq!(participant.role, HOST);
            assert!(changed.contains(&"role".to_string()));
            assert_eq!(reason.as_deref(), Some("host_left"));
        }
        other => panic!("{other:?}"),
    }
    assert!(got.to("zoe").iter().any(|e| matches!(
        e,
        Event::PermissionsChanged { role, reason, .. } if role == HOST && reason.as_deref() == Some("host_left")
    )));
    assert_eq!(got.host_actions(), vec![("update_participant", Ok(()))]);
    assert!(h.info("zoe").permissions.has(HostControl::Kick));
    // The room has a host again: nothing more is due.
    assert_eq!(h.room.info().host_left_at, None);
    h.disconnect("ann");
    assert!(!h.take().kinds("zoe").contains(&"host_left"));
}

#[test]
fn promote_with_nobody_to_promote_leaves_the_room_as_it_is() {
    let mut h = room(HostLeftAction::Promote);
    h.join("hana", HOST);
    h.join("vic", VIEWER);
    h.disconnect("hana");
    h.take();
    h.advance(GRACE);
    let got = h.take();
    assert!(got.to("vic").is_empty(), "{got:?}");
    assert_eq!(h.room.info().host_left_at, None);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn bad_policies_are_refused() {
    let roles = Roles::default();
    let with = |policy: HostLeftPolicy| RoomSettings {
        host_left: Box::new(policy),
        ..Default::default()
    };
    let bad = [
        HostLeftPolicy {
            action: HostLeftAction::Promote,
            promote_role: "nobody".into(),
            ..Default::default()
        },
        HostLeftPolicy {
            action: HostLeftAction::Promote,
            host_role: PARTICIPANT.into(),
            ..Default::default()
        },
        HostLeftPolicy {
            action: HostLeftAction::End,
            host_controls: Vec::new(),
            ..Default::default()
        },
        HostLeftPolicy {
            grace_seconds: 7 * 24 * 3600,
            ..Default::default()
        },
    ];
    for policy in bad {
        let e = with(policy.clone()).validate_with(&roles).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{policy:?}");
    }
    with(HostLeftPolicy::default())
        .validate_with(&roles)
        .unwrap();
}

#[test]
fn a_room_that_empties_during_the_grace_period_has_nothing_to_end_or_audit() {
    let mut h = room(HostLeftAction::End);
    h.join("hana", HOST);
    h.join("ben", PARTICIPANT);
    h.disconnect("hana");
    h.disconnect("ben");
    h.take();
    h.advance(GRACE);
    let got = h.take();
    assert!(got.host_actions().is_empty(), "{:?}", got.effects);
    assert_eq!(h.room.poll_timeout(), None);
}
