//! The stage: invitations answered like consent requests, the stage's permissions, removal.

use super::*;

fn invite(h: &mut Harness, by: &str, who: &str) -> String {
    match h.act(
        by,
        Command::InviteToStage {
            identity: who.into(),
        },
    ) {
        Ok(Reply::Request { request_id, .. }) => request_id,
        other => panic!("{other:?}"),
    }
}

fn answer(h: &mut Harness, who: &str, request_id: &str, accept: bool) -> Result<Reply> {
    h.act(
        who,
        Command::RespondRequest {
            request_id: request_id.into(),
            accept,
        },
    )
}

#[test]
fn an_accepted_invitation_puts_a_viewer_on_the_stage_and_removal_takes_it_back() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    h.join("vic", VIEWER);
    h.join("ann", PARTICIPANT);
    h.take();
    let e = h
        .act(
            "ann",
            Command::InviteToStage {
                identity: "vic".into(),
            },
        )
        .unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::PermissionDenied,
        "inviting needs `stage`"
    );
    h.take();
    let id = invite(&mut h, "hana", "vic");
    let got = h.take();
    assert!(matches!(got.to("vic"), [Event::StageInvited { from, .. }] if from == "hana"));
    assert!(got.to("ann").is_empty(), "an invitation is between the two");
    assert_eq!(
        answer(&mut h, "ann", &id, true).unwrap_err().code,
        ErrorCode::NotFound
    );
    h.take();
    answer(&mut h, "vic", &id, true).unwrap();
    let got = h.take();
    assert!(h
        .info("vic")
        .permissions
        .can_send
        .contains(&Source::Microphone));
    assert!(got.to("ann").iter().any(|e| matches!(
        e,
        Event::StageChanged { identity, on_stage: true, by } if identity == "vic" && by.as_deref() == Some("hana")
    )));
    assert!(got.to("hana").iter().any(|e| matches!(
        e,
        Event::StageInviteResolved {
            outcome: RequestOutcome::Accepted,
            ..
        }
    )));
    assert!(got.to("vic").iter().any(|e| matches!(
        e,
        Event::PermissionsChanged { reason, .. } if reason.as_deref() == Some("stage")
    )));
    // On the stage, Vic publishes; taken off it, the track goes and the viewer's rights return.
    h.publish("vic", Source::Microphone, false);
    h.join("cy", PARTICIPANT);
    match h.take().to("cy").first() {
        Some(Event::Joined { stage, .. }) => assert_eq!(stage, &["vic".to_string()]),
        other => panic!("{other:?}"),
    }
    h.act(
        "hana",
        Command::RemoveFromStage {
            identity: "vic".into(),
        },
    )
    .unwrap();
    let got = h.take();
    assert!(h.info("vic").permissions.can_send.is_empty());
    assert!(
        h.info("vic").tracks.is_empty(),
        "its microphone is unpublished"
    );
    assert!(got.to("ann").iter().any(|e| matches!(
        e,
        Event::StageChanged {
            on_stage: false,
            ..
        }
    )));
    let e = h
        .act(
            "hana",
            Command::RemoveFromStage {
                identity: "vic".into(),
            },
        )
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::FailedPrecondition);
}

#[test]
fn invitations_are_rejected_expire_and_are_cancelled_when_someone_leaves() {
    let mut h = Harness::new();
    h.join("hana", HOST);
    h.join("vic", VIEWER);
    let id = invite(&mut h, "hana", "vic");
    assert_eq!(invite(&mut h, "hana", "vic"), id, "deduplicated");
    h.take();
    answer(&mut h, "vic", &id, false).unwrap();
    let got = h.take();
    assert!(h.info("vic").permissions.can_send.is_empty());
    assert!(got.to("hana").iter().any(|e| matches!(
        e,
        Event::StageInviteResolved {
            outcome: RequestOutcome::Rejected,
            ..
        }
    )));
    invite(&mut h, "hana", "vic");
    h.take();
    h.advance(u64::from(RoomSettings::default().request_timeout_seconds) * 1000);
    assert!(h.take().to("vic").iter().any(|e| matches!(
        e,
        Event::StageInviteResolved {
            outcome: RequestOutcome::Expired,
            ..
        }
    )));
    invite(&mut h, "hana", "vic");
    h.take();
    h.disconnect("hana");
    assert!(h.take().to("vic").iter().any(|e| matches!(
        e,
        Event::StageInviteResolved {
            outcome: RequestOutcome::Cancelled,
            ..
        }
    )));
    assert_eq!(h.room.poll_timeout(), None, "nothing left to expire");
}
