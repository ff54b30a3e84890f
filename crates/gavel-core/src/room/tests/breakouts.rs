//! Breakout rooms, as the main room decides them.

use super::*;
use crate::command::{BreakoutNotice, BreakoutRoom};

fn open_count(n: u32, duration: Option<u32>) -> Command {
    Command::OpenBreakouts {
        count: Some(n),
        rooms: vec![],
        duration_seconds: duration,
        countdown_seconds: Some(10),
    }
}

fn plan(reply: Result<Reply>) -> Vec<BreakoutRoom> {
    match reply {
        Ok(Reply::Breakouts { rooms, .. }) => rooms,
        other => panic!("{other:?}"),
    }
}

fn returns(got: &Got) -> Option<Vec<String>> {
    got.effects.iter().find_map(|o| match o {
        Output::ReturnFromBreakouts { rooms } => Some(rooms.clone()),
        _ => None,
    })
}

fn notices(got: &Got) -> Vec<(Vec<String>, BreakoutNotice)> {
    got.effects
        .iter()
        .filter_map(|o| match o {
            Output::ToBreakouts { rooms, notice } => Some((rooms.clone(), notice.clone())),
            _ => None,
        })
        .collect()
}

fn class() -> Harness {
    let mut h = Harness::new();
    h.join("hana", HOST);
    for who in ["a", "b", "c", "d", "e"] {
        h.join(who, PARTICIPANT);
        h.advance(10);
    }
    h.take();
    h
}

#[test]
fn round_robin_spreads_everyone_but_hosts_in_arrival_order_and_everyone_hears_the_plan() {
    let mut h = class();
    assert_eq!(
        err_code(h.act("a", open_count(2, None))),
        ErrorCode::PermissionDenied
    );
    h.take();
    let rooms = plan(h.act("hana", open_count(2, Some(600))));
    assert_eq!(
        rooms,
        vec![
            BreakoutRoom {
                name: "room-a-breakout-1".into(),
                identities: vec!["a".into(), "c".into(), "e".into()]
            },
            BreakoutRoom {
                name: "room-a-breakout-2".into(),
                identities: vec!["b".into(), "d".into()]
            },
        ]
    );
    let got = h.take();
    for who in ["hana", "a", "e"] {
        assert!(
            got.kinds(who).contains(&"breakouts_opened"),
            "{who}: {:?}",
            got.kinds(who)
        );
    }
    let stored = got.effects.iter().find_map(|o| match o {
        Output::SettingsChanged { settings } => settings.breakouts.clone(),
        _ => None,
    });
    let stored = stored.expect("the breakouts are a stored setting");
    assert_eq!(stored.ends_at, Some(h.now + 600_000));
    assert_eq!(stored.rooms.len(), 2);
    assert!(open_count(2, None).may_write_durably());
    assert_eq!(got.host_actions(), vec![("open_breakouts", Ok(()))]);
    // Only one set at a time.
    assert_eq!(
        err_code(h.act("hana", open_count(2, None))),
        ErrorCode::FailedPrecondition
    );
}

#[test]
fn a_listed_plan_names_rooms_and_people_and_bad_plans_change_nothing() {
    let mut h = class();
    let listed = |rooms: Vec<(&str, Vec<&str>)>| Command::OpenBreakouts {
        count: None,
        rooms: rooms
            .into_iter()
            .map(|(n, ids)| BreakoutRoom {
                name: n.into(),
                identities: ids.into_iter().map(str::to_string).collect(),
            })
            .collect(),
        duration_seconds: None,
        countdown_seconds: None,
    };
    for bad in [
        listed(vec![("x", vec!["a"]), ("y", vec!["a"])]),
        listed(vec![("x", vec!["nobody"])]),
        listed(vec![("x", vec![]), ("x", vec![])]),
        listed(vec![("room-a", vec![])]),
        listed(vec![("bad/name", vec![])]),
        open_count(0, None),
        open_count(51, None),
        Command::OpenBreakouts {
            count: Some(2),
            rooms: vec![],
            duration_seconds: Some(0),
            countdown_seconds: None,
        },
    ] {
        let before = h.state();
        assert!(h.act("hana", bad.clone()).is_err(), "{bad:?}");
        assert_eq!(h.state(), before);
        assert!(h.room.settings().breakouts.is_none());
    }
    h.take();
    let rooms = plan(h.act(
        "hana",
        listed(vec![("design", vec!["a", "b"]), ("", vec!["c"])]),
    ));
    assert_eq!(rooms[0].name, "design");
    assert_eq!(rooms[1].name, "room-a-breakout-2");
    assert_eq!(rooms[1].identities, vec!["c".to_string()]);
}

#[test]
fn closing_warns_everyone_everywhere_then_brings_everyone_back_and_the_server_clears_it() {
    let mut h = class();
    plan(h.act("hana", open_count(2, None)));
    h.take();
    assert_eq!(h.room.poll_timeout(), None, "no time limit, no deadline");
    h.act(
        "hana",
        Command::BroadcastToBreakouts {
            message: "five minutes left".into(),
        },
    )
    .unwrap();
    let got = h.take();
    assert_eq!(got.kinds("a"), vec!["breakout_broadcast"]);
    let sent = notices(&got);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, vec!["room-a-breakout-1", "room-a-breakout-2"]);

    h.act(
        "hana",
        Command::CloseBreakouts {
            countdown_seconds: Some(5),
        },
    )
    .unwrap();
    let got = h.take();
    let at = h.now + 5_000;
    assert_eq!(
        got.to("a").last(),
        Some(&Event::BreakoutsClosing {
            at,
            by: Some("hana".into())
        })
    );
    assert!(matches!(
        &notices(&got)[0].1,
        BreakoutNotice::Closing { at: a, .. } if *a == at
    ));
    assert_eq!(returns(&got), None, "not before the countdown");
    assert_eq!(h.room.poll_timeout(), Some(at));
    h.advance(5_000);
    let got = h.take();
    assert_eq!(
        returns(&got),
        Some(vec![
            "room-a-breakout-1".to_string(),
            "room-a-breakout-2".to_string()
        ])
    );
    assert!(got.kinds("hana").contains(&"breakouts_closed"));
    h.advance(1_000);
    assert_eq!(returns(&h.take()), None, "once");
    // The service layer moved everyone back and deleted the rooms.
    assert_eq!(
        err_code(h.act("hana", Command::BreakoutsReturned)),
        ErrorCode::PermissionDenied,
        "only the server says so"
    );
    h.server(Command::BreakoutsReturned).unwrap();
    assert!(h.room.settings().breakouts.is_none());
    assert!(h.take().kinds("a").contains(&"room_updated"));
    assert_eq!(
        err_code(h.act(
            "hana",
            Command::CloseBreakouts {
                countdown_seconds: None
            }
        )),
        ErrorCode::FailedPrecondition
    );
}

#[test]
fn the_time_limit_warns_then_brings_everyone_back_after_the_countdown() {
    let mut h = class();
    plan(h.act("hana", open_count(3, Some(60))));
    h.take();
    let ends = h.now + 60_000;
    assert_eq!(h.room.poll_timeout(), Some(ends));
    h.advance(60_000);
    let got = h.take();
    assert_eq!(
        got.to("hana").last(),
        Some(&Event::BreakoutsClosing {
            at: ends + 10_000,
            by: None
        })
    );
    assert_eq!(notices(&got).len(), 1);
    assert_eq!(returns(&got), None);
    h.advance(10_000);
    assert_eq!(returns(&h.take()).map(|r| r.len()), Some(3));
}

#[test]
fn a_countdown_of_zero_brings_everyone_back_at_once_and_ending_the_session_ends_them() {
    let mut h = class();
    plan(h.act("hana", open_count(2, None)));
    h.take();
    h.act(
        "hana",
        Command::CloseBreakouts {
            countdown_seconds: Some(0),
        },
    )
    .unwrap();
    assert!(returns(&h.take()).is_some());

    let mut h = class();
    plan(h.act("hana", open_count(2, None)));
    h.take();
    h.act("hana", Command::EndSession).unwrap();
    let got = h.take();
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::EndBreakouts { rooms } if rooms.len() == 2)));
}

#[test]
fn a_breakout_room_relays_its_parents_notices_from_the_server_only() {
    let settings = RoomSettings {
        parent: Some("main".into()),
        ..Default::default()
    };
    let mut h = Harness::settings(settings);
    h.join("a", PARTICIPANT);
    h.take();
    let notice = BreakoutNotice::Broadcast {
        message: "hi".into(),
        by: Some("hana".into()),
    };
    assert_eq!(
        err_code(h.act(
            "a",
            Command::BreakoutNotice {
                notice: notice.clone()
            }
        )),
        ErrorCode::PermissionDenied
    );
    h.server(Command::BreakoutNotice { notice }).unwrap();
    assert_eq!(
        h.take().to("a"),
        &[Event::BreakoutBroadcast {
            message: "hi".into(),
            by: Some("hana".into())
        }]
    );
    // Breakouts open from a main room only.
    h.join("hugo", HOST);
    assert_eq!(
        err_code(h.act("hugo", open_count(2, None))),
        ErrorCode::InvalidArgument
    );
}
