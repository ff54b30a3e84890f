//! Consent requests: asking a participant to turn a source on, expiry, cancellation, deduplication.

use super::*;

#[test]
fn request_media_reject() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let got = h.take();
    assert_eq!(got.kinds("p"), ["media_requested"]);
    assert_eq!(got.recipients(), BTreeSet::from(["p"]));
    // Only the target may answer.
    assert_eq!(
        err_code(h.act("g", respond(&id, true))),
        ErrorCode::NotFound
    );
    h.act("p", respond(&id, false)).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h", RequestOutcome::Rejected)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Rejected)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Rejected)]);
}

#[test]
fn request_media_expires() {
    let (mut h, _) = meeting(RoomSettings {
        request_timeout_seconds: 10,
        ..Default::default()
    });
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    assert_eq!(h.room.poll_timeout(), Some(T0 + 10_000));
    h.advance(9_999);
    assert!(h.take().no_events());
    h.advance(1);
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h", RequestOutcome::Expired)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Expired)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Expired)]);
    assert_eq!(h.room.pending_requests().count(), 0);
    assert_eq!(h.room.poll_timeout(), None);
}

#[test]
fn request_is_cancelled_when_the_target_leaves() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    let p_left = left(&h, "p", LeaveReason::Left, None);
    h.act("p", Command::Leave).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[Event::RoomLeft {
            reason: LeaveReason::Left,
            by: None,
            message: None,
        }]
    );
    assert_eq!(
        got.to("h"),
        &[
            resolved(&id, "p", "h", RequestOutcome::Cancelled),
            p_left.clone(),
            counts(2, 1)
        ]
    );
    assert_eq!(got.to("g"), &[p_left, counts(2, 1)]);
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn request_is_cancelled_when_its_only_asker_leaves() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("h2", HOST);
    h.take();
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let (id2, dedup) = request_id(h.act("h2", request_media("p", Source::Microphone)));
    assert_eq!((id2.as_str(), dedup), (id.as_str(), true));
    h.take();

    // One of two askers leaving keeps the request.
    h.disconnect("h");
    let got = h.take();
    assert!(got.resolved().is_empty());
    assert_eq!(got.kinds("p"), ["participant_left", "counts_updated"]);
    assert_eq!(h.room.pending_requests().count(), 1);

    // The last one cancels it; the target is told.
    let h2_left = left(&h, "h2", LeaveReason::Disconnected, None);
    h.disconnect("h2");
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[
            // `from` names the askers still attached: only h2 by then.
            resolved(&id, "p", "h2", RequestOutcome::Cancelled),
            h2_left,
            counts(2, 1)
        ]
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
    assert_eq!(h.room.pending_requests().count(), 0);
}

#[test]
fn request_media_is_deduplicated_and_every_asker_learns_the_outcome() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("h2", HOST);
    h.take();
    let (id, dedup) = request_id(h.act("h", request_media("p", Source::Microphone)));
    assert!(!dedup);
    assert_eq!(h.take().kinds("p"), ["media_requested"]);

    let (id2, dedup) = request_id(h.act("h2", request_media("p", Source::Microphone)));
    assert_eq!(id2, id);
    assert!(dedup);
    // The same asker again, and the server: still one request.
    let (id3, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    let (id4, _) = request_id(h.server(request_media("p", Source::Microphone)));
    assert_eq!((id3.as_str(), id4.as_str()), (id.as_str(), id.as_str()));
    assert!(h.take().no_events(), "the target is asked once");
    let pending: Vec<_> = h.room.pending_requests().collect();
    assert_eq!(pending.len(), 1);
    let labels: Vec<_> = pending[0].askers.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(labels, ["h", "h2", "api"]);

    // Another source is another request.
    let (other, dedup) = request_id(h.act("h", request_media("p", Source::Camera)));
    assert!(!dedup && other != id);
    h.take();

    h.act("p", respond(&id, true)).unwrap();
    let got = h.take();
    assert_eq!(
        got.to("p"),
        &[resolved(&id, "p", "h,h2,api", RequestOutcome::Accepted)]
    );
    assert_eq!(
        got.to("h"),
        &[resolved(&id, "p", "h", RequestOutcome::Accepted)]
    );
    assert_eq!(
        got.to("h2"),
        &[resolved(&id, "p", "h2", RequestOutcome::Accepted)]
    );
    assert_eq!(got.recipients(), BTreeSet::from(["h", "h2", "p"]));
    assert_eq!(got.resolved(), [(id, RequestOutcome::Accepted)]);
    assert_eq!(h.room.pending_requests().count(), 1);
}

#[test]
fn request_media_preconditions() {
    let (mut h, _) = meeting(RoomSettings::default());
    h.join("v", VIEWER);
    h.take();
    let before = h.state();
    // To oneself.
    assert_eq!(
        err_code(h.act("h", request_media("h", Source::Microphone))),
        ErrorCode::InvalidArgument
    );
    // Already sending.
    assert_eq!(
        err_code(h.act("h", request_media("g", Source::Microphone))),
        ErrorCode::FailedPrecondition
    );
    // May not send.
    assert_eq!(
        err_code(h.act("h", request_media("v", Source::Microphone))),
        ErrorCode::FailedPrecondition
    );
    // Hidden and absent targets are not found.
    assert_eq!(
        err_code(h.act("h", request_media("o", Source::Microphone))),
        ErrorCode::NotFound
    );
    assert_eq!(
        err_code(h.act("h", request_media("zed", Source::Microphone))),
        ErrorCode::NotFound
    );
    assert!(h.take().no_events());
    assert_eq!(h.state(), before);
}

#[test]
fn revoking_a_source_cancels_its_requests() {
    let (mut h, _) = meeting(RoomSettings::default());
    let (id, _) = request_id(h.act("h", request_media("p", Source::Microphone)));
    h.take();
    h.server(Command::UpdateParticipant {
        identity: "p".into(),
        permissions: Some(PermissionsPatch {
            can_send: Some(sources(&[Source::Camera])),
            ..Default::default()
        }),
        role: None,
        name: None,
        metadata: None,
        attributes: None,
        capabilities: None,
    })
    .unwrap();
    let got = h.take();
    assert_eq!(
        got.kinds("p"),
        [
            "request_resolved",
            "participant_updated",
            "permissions_changed"
        ]
    );
    assert_eq!(
        got.to("h")[0],
        resolved(&id, "p", "h", RequestOutcome::Cancelled)
    );
    assert_eq!(got.resolved(), [(id, RequestOutcome::Cancelled)]);
}
