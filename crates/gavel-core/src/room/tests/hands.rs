//! Raised hands: the queue, who sees it, hosts lowering hands, the rate limit.

use super::*;
use crate::room::hands::{MAX_CHANGES, WINDOW};
use crate::settings::HandsVisibleTo;

fn raise(h: &mut Harness, who: &str, raised: bool) -> Result<Reply> {
    h.act(who, Command::RaiseHand { raised })
}

fn hand(identity: &str, raised: bool, by: Option<&str>) -> Event {
    Event::HandChanged {
        identity: identity.into(),
        raised,
        by: by.map(str::to_string),
    }
}

fn snapshot_hands(got: &Got, who: &str) -> Vec<String> {
    match got.to(who).first() {
        Some(Event::Joined { hands, .. }) => hands.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hands_queue_in_order_everyone_sees_them_and_a_host_lowers_one() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    h.join("ann", PARTICIPANT);
    h.join("ben", VIEWER);
    h.take();
    raise(&mut h, "ben", true).unwrap();
    raise(&mut h, "ann", true).unwrap();
    let got = h.take();
    for who in ["hana", "ann", "ben"] {
        assert_eq!(
            got.to(who),
            [hand("ben", true, None), hand("ann", true, None)]
        );
    }
    // Raising again changes nothing.
    raise(&mut h, "ann", true).unwrap();
    assert!(h.take().no_events());
    // A latecomer sees the queue in order.
    h.join("cy", PARTICIPANT);
    assert_eq!(snapshot_hands(&h.take(), "cy"), ["ben", "ann"]);
    // Only a holder of `stage` lowers someone else's hand.
    let e = h
        .act(
            "ann",
            Command::LowerHand {
                identity: "ben".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::PermissionDenied);
    h.take();
    h.act(
        "hana",
        Command::LowerHand {
            identity: "ben".into(),
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.to("ben"), [hand("ben", false, Some("hana"))]);
    assert_eq!(got.host_actions(), vec![("lower_hand", Ok(()))]);
    // Leaving takes the hand along.
    h.disconnect("ann");
    h.join("di", PARTICIPANT);
    assert!(snapshot_hands(&h.take(), "di").is_empty());
}

#[test]
fn when_only_hosts_see_hands_a_raise_reaches_hosts_and_the_raiser() {
    let mut h = Harness::settings(RoomSettings {
        hands_visible_to: HandsVisibleTo::Hosts,
        ..Default::default()
    });
    h.join("hana", HOST);
    h.join("ann", PARTICIPANT);
    h.join("ben", PARTICIPANT);
    h.take();
    raise(&mut h, "ann", true).unwrap();
    let got = h.take();
    assert_eq!(got.to("hana"), [hand("ann", true, None)]);
    assert_eq!(got.to("ann"), [hand("ann", true, None)]);
    assert!(got.to("ben").is_empty(), "another participant sees nothing");
    raise(&mut h, "ben", true).unwrap();
    h.join("hal", HOST);
    h.join("cy", PARTICIPANT);
    let got = h.take();
    assert_eq!(snapshot_hands(&got, "hal"), ["ann", "ben"]);
    assert!(snapshot_hands(&got, "cy").is_empty());
    // Ben, reconnecting, sees his own hand only.
    h.disconnect("ben");
    h.take();
    h.join("ben", PARTICIPANT);
    assert!(
        snapshot_hands(&h.take(), "ben").is_empty(),
        "his hand left with him"
    );
}

#[test]
fn hand_changes_are_rate_limited_per_participant() {
    let mut h = Harness::new();
    h.join("ann", PARTICIPANT);
    h.join("ben", PARTICIPANT);
    for i in 0..MAX_CHANGES {
        raise(&mut h, "ann", i % 2 == 0).unwrap();
    }
    h.take();
    let e = raise(&mut h, "ann", true).unwrap_err();
    assert_eq!(e.code, ErrorCode::RateLimited);
    assert!(h.take().no_events(), "a refused change is not announced");
    raise(&mut h, "ben", true).unwrap();
    h.advance(WINDOW);
    raise(&mut h, "ann", true).unwrap();
}

#[test]
fn in_a_large_room_an_unlisted_raiser_is_announced_once_then_its_hand() {
    let mut h = Harness::settings(RoomSettings {
        listed_limit: 2,
        ..Default::default()
    });
    h.join("hana", HOST);
    h.join("ann", PARTICIPANT);
    h.join("vic", VIEWER); // past the limit: counted, not announced
    h.take();
    raise(&mut h, "vic", true).unwrap();
    let got = h.take();
    for who in ["hana", "ann"] {
        assert_eq!(
            got.kinds(who),
            ["participant_joined", "hand_changed"],
            "{who}: a constant number of events"
        );
    }
}
