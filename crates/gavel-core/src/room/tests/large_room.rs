//! Large rooms: unlisted audience past the listed limit, coalesced counts, paged listing.

use super::*;

fn large(limit: u32) -> Harness {
    Harness::settings(RoomSettings {
        listed_limit: limit,
        ..Default::default()
    })
}

#[test]
fn past_the_listed_limit_audience_joins_are_counted_not_announced() {
    let mut h = large(2);
    h.join("host", HOST);
    h.join("v1", VIEWER);
    h.take();
    h.advance(2_000);
    h.take();

    // The third participant is audience in a room at its limit: nobody hears of it but itself.
    h.join("v2", VIEWER);
    let got = h.take();
    assert_eq!(got.recipients(), ["v2"].into());
    match &got.to("v2")[0] {
        Event::Joined {
            participants,
            counts,
            ..
        } => {
            let names: Vec<&str> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(names, ["host", "v1"]);
            assert_eq!(counts.present, 3, "the snapshot's counts are exact");
        }
        other => panic!("{other:?}"),
    }
    // Counts go out once, coalesced, from the timer.
    h.join("v3", VIEWER);
    assert!(h.take().no_events() || h.room.counts_pending());
    assert!(h.room.counts_pending());
    let due = h.room.poll_timeout().unwrap();
    h.advance(due - h.now);
    let got = h.take();
    assert_eq!(got.to("host"), [counts(4, 0)]);
    assert_eq!(got.to("v3"), [counts(4, 0)]);

    // A participant who may send is always announced.
    h.join("speaker", PARTICIPANT);
    let got = h.take();
    assert!(got.kinds("host").contains(&"participant_joined"));

    // An unlisted member leaving is not announced either.
    h.disconnect("v2");
    let got = h.take();
    assert!(!got.kinds("host").contains(&"participant_left"));

    // Hosts can still act on unlisted members by identity and page through everyone.
    let page = h
        .act(
            "host",
            Command::ListParticipants {
                after: Some("speaker".into()),
                limit: Some(10),
            },
        )
        .unwrap();
    match page {
        Reply::Participants {
            participants,
            counts,
        } => {
            let names: Vec<&str> = participants.iter().map(|p| p.identity.as_str()).collect();
            assert_eq!(names, ["v1", "v3"]);
            assert_eq!(counts.present, 4);
        }
        other => panic!("{other:?}"),
    }
    h.act(
        "host",
        Command::Kick {
            identity: Some("v3".into()),
            identities: None,
            ban_seconds: None,
            revoke_tokens: false,
            revoke_before: None,
            require_present: false,
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.disconnects().len(), 1);
    assert!(!got.kinds("host").contains(&"participant_left"));
}

#[test]
fn unlisted_audience_is_announced_when_promoted_pinned_or_speaking_in_data() {
    let mut h = large(1);
    h.join("host", HOST);
    h.join("a", VIEWER);
    h.join("b", VIEWER);
    h.join("c", VIEWER);
    h.take();
    // Promotion to a sender.
    h.server(Command::UpdateParticipant {
        identity: "a".into(),
        permissions: None,
        role: Some(PARTICIPANT.into()),
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    let got = h.take();
    assert_eq!(got.kinds("host")[0], "participant_joined");
    assert!(got.kinds("b").contains(&"participant_joined"));
    // Pinning.
    h.act(
        "host",
        Command::Pin {
            identity: "b".into(),
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.kinds("host"), ["participant_joined", "pinned"]);
    // Sending data (with the permission to).
    h.server(Command::UpdateParticipant {
        identity: "c".into(),
        permissions: Some(PermissionsPatch {
            can_publish_data: Some(true),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    assert_eq!(h.take().recipients(), ["c"].into(), "still unlisted");
    h.act("c", data("aGk=", &[])).unwrap();
    assert_eq!(
        h.take().kinds("host"),
        ["participant_joined", "data_received"]
    );
}

#[test]
fn listed_limit_zero_announces_everyone() {
    let mut h = large(0);
    for i in 0..5 {
        h.join(&format!("v{i}"), VIEWER);
    }
    let got = h.take();
    assert!(got.kinds("v0").contains(&"participant_joined"));
    assert!(!h.room.counts_pending());
}
