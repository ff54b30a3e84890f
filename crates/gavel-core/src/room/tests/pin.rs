//! Pinning and unpinning a participant.

use super::*;

#[test]
fn pin_and_unpin() {
    let (mut h, _) = meeting(RoomSettings::default());
    let everyone = ["h", "g", "p", "o"];
    assert_eq!(
        h.act(
            "h",
            Command::Pin {
                identity: "g".into()
            }
        ),
        Ok(Reply::done())
    );
    let got = h.take();
    let pinned = |who: &str| Event::Pinned {
        identity: who.into(),
        by: Some("h".into()),
    };
    let unpinned = |who: &str, by: Option<&str>| Event::Unpinned {
        identity: who.into(),
        by: by.map(str::to_string),
    };
    for who in everyone {
        assert_eq!(got.to(who), &[pinned("g")]);
    }
    assert_eq!(h.room.pinned(), Some("g"));

    // Pinning someone else unpins the previous one.
    h.act(
        "h",
        Command::Pin {
            identity: "p".into(),
        },
    )
    .unwrap();
    let got = h.take();
    for who in everyone {
        assert_eq!(got.to(who), &[unpinned("g", Some("h")), pinned("p")]);
    }
    // Again: nothing to say.
    h.act(
        "h",
        Command::Pin {
            identity: "p".into(),
        },
    )
    .unwrap();
    assert!(h.take().no_events());

    // A joiner learns the pin from its snapshot.
    h.join("late", PARTICIPANT);
    match h.take().to("late") {
        [Event::Joined { pinned, .. }] => assert_eq!(pinned.as_deref(), Some("p")),
        other => panic!("{other:?}"),
    }

    // Unpin by name only unpins that participant.
    assert_eq!(
        err_code(h.act(
            "h",
            Command::Unpin {
                identity: Some("g".into())
            }
        )),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
    h.act(
        "h",
        Command::Unpin {
            identity: Some("p".into()),
        },
    )
    .unwrap();
    let got = h.take();
    for who in everyone {
        assert_eq!(got.to(who), &[unpinned("p", Some("h"))]);
    }
    assert_eq!(h.room.pinned(), None);
    // Unpinning nothing is fine and silent.
    h.act("h", Command::Unpin { identity: None }).unwrap();
    assert!(h.take().no_events());

    // The pinned participant leaving is unpinned.
    h.act(
        "h",
        Command::Pin {
            identity: "g".into(),
        },
    )
    .unwrap();
    h.take();
    let g_left = left(&h, "g", LeaveReason::Left, None);
    h.act("g", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(got.to("p"), &[unpinned("g", None), g_left, counts(3, 1)]);
    assert_eq!(h.room.pinned(), None);
}

#[test]
fn hidden_participants_cannot_be_pinned() {
    let (mut h, _) = meeting(RoomSettings::default());
    // A client cannot even see it.
    assert_eq!(
        err_code(h.act(
            "h",
            Command::Pin {
                identity: "o".into()
            }
        )),
        ErrorCode::NotFound
    );
    // The server can, but the pin would be seen by everyone.
    assert_eq!(
        err_code(h.server(Command::Pin {
            identity: "o".into()
        })),
        ErrorCode::FailedPrecondition
    );
    assert!(h.take().no_events());
    assert_eq!(h.room.pinned(), None);

    // Becoming hidden drops the pin.
    h.server(Command::Pin {
        identity: "p".into(),
    })
    .unwrap();
    h.take();
    let p_left = Event::ParticipantLeft {
        identity: "p".into(),
        sid: h.sid("p"),
        reason: LeaveReason::Hidden,
        by: Some("api".into()),
    };
    h.server(update(
        "p",
        UpdateFields {
            permissions: Some(PermissionsPatch {
                hidden: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        },
    ))
    .unwrap();
    let got = h.take();
    let unpinned = Event::Unpinned {
        identity: "p".into(),
        by: Some("api".into()),
    };
    assert_eq!(got.to("g"), &[unpinned.clone(), p_left, counts(2, 2)]);
    assert_eq!(
        got.kinds("p"),
        [
            "unpinned",
            "participant_updated",
            "permissions_changed",
            "counts_updated"
        ]
    );
    assert_eq!(h.room.pinned(), None);
}
