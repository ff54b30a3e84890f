//! Data messages between participants and room metadata updates.

use super::*;

fn data_event(from: Option<&str>, payload: &str) -> Event {
    Event::DataReceived {
        from: from.map(str::to_string),
        payload: payload.into(),
        topic: Some("chat".into()),
        reliable: true,
    }
}

#[test]
fn data_from_a_participant_reaches_everyone_else_or_its_destinations() {
    let mut h = Harness::new();
    h.join("host", HOST);
    h.join("ann", PARTICIPANT);
    h.join("bob", PARTICIPANT);
    h.join("spy", OBSERVER);
    h.take();

    h.act("ann", data("aGk=", &[])).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["bob", "host", "spy"].into());
    assert_eq!(got.to("bob"), [data_event(Some("ann"), "aGk=")]);

    // Destinations: absent ones are skipped, and a participant cannot reach a hidden one.
    h.act("ann", data("aGk=", &["bob", "nobody", "spy"]))
        .unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["bob"].into());

    // The server reaches hidden participants and sends without `from`.
    h.server(data("aGk=", &["spy"])).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["spy"].into());
    assert_eq!(got.to("spy"), [data_event(None, "aGk=")]);
    assert!(
        got.host_actions().is_empty(),
        "data is not a moderation action"
    );
}

#[test]
fn data_needs_can_publish_data_and_valid_input() {
    let mut h = Harness::new();
    h.join("ann", PARTICIPANT);
    h.join("vic", VIEWER);
    h.join("spy", OBSERVER);
    h.take();
    assert_eq!(
        err_code(h.act("vic", data("aGk=", &[]))),
        ErrorCode::PermissionDenied
    );
    h.server(Command::UpdateParticipant {
        identity: "spy".into(),
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
    h.take();
    assert_eq!(
        err_code(h.act("spy", data("aGk=", &[]))),
        ErrorCode::FailedPrecondition
    );
    for bad in ["", "not base64!", "aGk", "a===", "aGk=aGk="] {
        assert_eq!(
            err_code(h.act("ann", data(bad, &[]))),
            ErrorCode::InvalidArgument,
            "{bad:?}"
        );
    }
    let big = "A".repeat(crate::ids::MAX_DATA_PAYLOAD + 4);
    assert_eq!(
        err_code(h.act("ann", data(&big, &[]))),
        ErrorCode::InvalidArgument
    );
    assert!(h.take().no_events(), "refused data changes nothing");
}

#[test]
fn room_metadata_update_reaches_everyone_and_is_made_durable() {
    let mut h = Harness::new();
    h.join("host", HOST);
    h.join("ann", PARTICIPANT);
    h.take();
    let update = |m: &str| Command::UpdateRoomMetadata { metadata: m.into() };
    assert_eq!(
        err_code(h.act("ann", update("x"))),
        ErrorCode::PermissionDenied
    );
    let got = h.take();
    assert!(got.no_events());
    assert_eq!(
        got.host_actions(),
        [("update_room_metadata", Err(ErrorCode::PermissionDenied))]
    );

    h.act("host", update("{\"topic\":\"launch\"}")).unwrap();
    let got = h.take();
    assert_eq!(got.recipients(), ["ann", "host"].into());
    match &got.to("ann")[0] {
        Event::RoomUpdated { room, by } => {
            assert_eq!(room.settings.metadata, "{\"topic\":\"launch\"}");
            assert_eq!(by.as_deref(), Some("host"));
        }
        other => panic!("expected room_updated, got {other:?}"),
    }
    assert!(got
        .effects
        .iter()
        .any(|o| matches!(o, Output::SettingsChanged { settings } if settings.metadata.contains("launch"))));
    assert_eq!(h.room.settings().metadata, "{\"topic\":\"launch\"}");

    // The same metadata again changes nothing.
    h.server(update("{\"topic\":\"launch\"}")).unwrap();
    assert!(h.take().no_events());
    let too_big = "x".repeat(crate::ids::MAX_METADATA + 1);
    assert_eq!(
        err_code(h.server(update(&too_big))),
        ErrorCode::InvalidArgument
    );
}
