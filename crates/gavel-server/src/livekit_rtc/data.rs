//! LiveKit's `DataPacket`s: what a LiveKit client sends on its data channels, as the room's
//! `send_data`; and the room's `data_received`, as the packet its SDK reads.
//!
//! User packets (LiveKit's `publishData`) are what Gavel's data messages are, so native and
//! LiveKit clients exchange them both ways. LiveKit's other packet kinds (RPC, text and byte
//! streams, chat, transcriptions, DTMF, metrics, encrypted packets) have no Gavel equivalent;
//! they travel whole, as a data message on [`PACKET_TOPIC`] whose payload is the packet, so the
//! room authorizes, limits and addresses them exactly like `send_data`, and each LiveKit
//! recipient gets the packet back, stamped with its sender's identity ([`restamped`]). Native
//! clients see them as `data_received` on that topic (and may send such packets themselves).
//!
//! Gavel's extras, which LiveKit's protocol has no message for, travel as user packets on
//! reserved topics, so any LiveKit SDK can use them through its data API:
//! - [`EVENT_TOPIC`]: the server sends the room's events that have no LiveKit message
//!   ([`is_extra`]: consent requests and their outcomes, pins, mutes with who forced them, role
//!   and permission changes, counts, moves) as their native JSON (`docs/protocol.md`);
//! - [`COMMAND_TOPIC`]: the client sends a native request (`{"id", "type", …}`, the same JSON
//!   as on the WebSocket), run as its own command with the same authorization; the response
//!   comes back to it alone on [`RESPONSE_TOPIC`]. Moves and media signalling are refused
//!   there (a move goes through RoomService's `MoveParticipant`; signalling is the protocol's).
//!
//! Packets on these topics are never relayed to other participants.

use crate::fanout::Frame;
use base64::Engine as _;
use gavel_core::{Command, Error, Event};
use livekit_protocol as lk;
use prost::Message as _;
use serde_json::Value;

/// The topic of the room's events that have no LiveKit message.
pub const EVENT_TOPIC: &str = "gavel.event";
/// The topic of a client's native requests, and of their responses.
pub const COMMAND_TOPIC: &str = "gavel.command";
pub const RESPONSE_TOPIC: &str = "gavel.response";
/// The topic of LiveKit's packets other than user packets, carried whole (protobuf, base64).
pub const PACKET_TOPIC: &str = "gavel.livekit-packet";

/// The data channel a message goes out on: LiveKit's clients open `_reliable` (ordered,
/// retransmitted) and `_lossy` (neither).
pub fn label(reliable: bool) -> &'static str {
    match reliable {
        true => "_reliable",
        false => "_lossy",
    }
}

/// What a packet received on data channel `label` asks for.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    /// A data message: the sender's `send_data`.
    Data(Command),
    /// A native request on [`COMMAND_TOPIC`], with its id.
    Request(Value, Command),
    /// A request on [`COMMAND_TOPIC`] refused before it runs: the response to send back.
    Refused(Value, Error),
}

/// What a packet received on data channel `label` asks for, or why it asks for nothing. The
/// sender is never taken from the packet: the room stamps it. `max_request` bounds a
/// request's JSON (the WebSocket's message limit).
#[allow(deprecated)] // `UserPacket::destination_identities`: older SDKs still send it
pub fn inbound(label: &str, bytes: &[u8], max_request: usize) -> Result<Inbound, &'static str> {
    let packet = lk::DataPacket::decode(bytes).map_err(|_| "not a LiveKit DataPacket")?;
    let reliable = label != "_lossy";
    // Destinations may be in either place, as LiveKit's SDKs have put them over time.
    let mut destinations = packet.destination_identities.clone();
    let user = match packet.value {
        Some(lk::data_packet::Value::User(user)) => user,
        // Active speakers are the server's to announce.
        Some(lk::data_packet::Value::Speaker(_)) => return Err("speaker updates are the server's"),
        Some(_) => {
            return Ok(Inbound::Data(Command::SendData {
                payload: base64::engine::general_purpose::STANDARD.encode(bytes),
                topic: Some(PACKET_TOPIC.to_string()),
                destination_identities: destinations,
                reliable,
            }))
        }
        None => return Err("an empty packet"),
    };
    match user.topic.as_deref() {
        Some(COMMAND_TOPIC) => return Ok(request(&user.payload, max_request)),
        Some(EVENT_TOPIC | RESPONSE_TOPIC | PACKET_TOPIC) => {
            return Err("a topic only the server sends on")
        }
        _ => {}
    }
    destinations.extend(user.destination_identities);
    Ok(Inbound::Data(Command::SendData {
        payload: base64::engine::general_purpose::STANDARD.encode(&user.payload),
        topic: user.topic.filter(|t| !t.is_empty()),
        destination_identities: destinations,
        reliable,
    }))
}

/// A native request from [`COMMAND_TOPIC`]'s payload.
fn request(payload: &[u8], max_bytes: usize) -> Inbound {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Inbound::Refused(Value::Null, Error::invalid("a request must be UTF-8 JSON"));
    };
    match crate::ws::parse_request(text, max_bytes) {
        Ok((id, command)) => match command {
            Command::Move { .. } => Inbound::Refused(
                id,
                Error::invalid(
                    "move is not available on a data channel: use RoomService MoveParticipant",
                ),
            ),
            Command::MediaOffer { .. }
            | Command::MediaAnswer { .. }
            | Command::MediaCandidate { .. }
            | Command::MediaSubscribe { .. } => Inbound::Refused(
                id,
                Error::invalid(
                    "media signalling goes through LiveKit's signalling, not a data channel",
                ),
            ),
            command => Inbound::Request(id, command),
        },
        Err((id, e)) => Inbound::Refused(id, e),
    }
}

/// Whether `event` has no LiveKit message, and so reaches LiveKit clients on [`EVENT_TOPIC`].
/// Mutes and room updates go both ways: LiveKit's own messages carry no "by whom" and no lock.
pub fn is_extra(event: &Event) -> bool {
    matches!(
        event,
        Event::MediaRequested { .. }
            | Event::RequestResolved { .. }
            | Event::Pinned { .. }
            | Event::Unpinned { .. }
            | Event::TrackMuted { .. }
            | Event::PermissionsChanged { .. }
            | Event::CountsUpdated { .. }
            | Event::Moved { .. }
            | Event::HostLeft { .. }
            | Event::HostReturned { .. }
            | Event::HandChanged { .. }
            | Event::StageInvited { .. }
            | Event::StageInviteResolved { .. }
            | Event::StageChanged { .. }
            | Event::RoomUpdated { .. }
            | Event::WaiterAdded { .. }
            | Event::WaitersRemoved { .. }
            | Event::BreakoutsOpened { .. }
            | Event::BreakoutsClosing { .. }
            | Event::BreakoutsClosed
            | Event::BreakoutBroadcast { .. }
    )
}

/// A server packet on `topic` carrying `json` (an event, or a response to a request).
pub fn server_packet(topic: &str, json: Vec<u8>) -> Vec<u8> {
    lk::DataPacket {
        value: Some(lk::data_packet::Value::User(lk::UserPacket {
            payload: json,
            topic: Some(topic.to_string()),
            ..Default::default()
        })),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The packet that answers a request received on [`COMMAND_TOPIC`].
pub fn response_packet(response: &Frame) -> Vec<u8> {
    server_packet(RESPONSE_TOPIC, response.json().into_bytes())
}

/// The packet a LiveKit client receives for `data_received`: from `from` (none: the server),
/// with the sender's identity where LiveKit's SDKs read it. `None` for a payload that is not
/// base64 (the room validates it; this never happens).
#[allow(deprecated)] // `kind`: older SDKs still read it
pub fn packet(
    from: Option<&str>,
    payload: &str,
    topic: Option<&str>,
    reliable: bool,
) -> Option<Vec<u8>> {
    let payload = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let identity = from.unwrap_or_default().to_string();
    let kind = match reliable {
        true => lk::data_packet::Kind::Reliable,
        false => lk::data_packet::Kind::Lossy,
    };
    let packet = lk::DataPacket {
        kind: kind as i32,
        participant_identity: identity.clone(),
        value: Some(lk::data_packet::Value::User(lk::UserPacket {
            participant_identity: identity,
            payload,
            topic: topic.map(str::to_string),
            ..Default::default()
        })),
        ..Default::default()
    };
    Some(packet.encode_to_vec())
}

/// A packet carried on [`PACKET_TOPIC`] (`payload`, base64), as its recipients get it: from
/// `from` (the room's stamp, never the sender's claim), without the sender's list of
/// destinations, on the channel it was sent on. `None` when the payload is not a LiveKit
/// packet (a native client may send anything on the topic; LiveKit clients get nothing).
#[allow(deprecated)] // `Speaker` and `kind`: older SDKs still use them
pub fn restamped(from: Option<&str>, payload: &str, reliable: bool) -> Option<Vec<u8>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    let mut packet = lk::DataPacket::decode(bytes.as_slice()).ok()?;
    if matches!(
        packet.value,
        None | Some(lk::data_packet::Value::User(_) | lk::data_packet::Value::Speaker(_))
    ) {
        return None;
    }
    packet.participant_identity = from.unwrap_or_default().to_string();
    packet.destination_identities.clear();
    packet.kind = match reliable {
        true => lk::data_packet::Kind::Reliable,
        false => lk::data_packet::Kind::Lossy,
    } as i32;
    Some(packet.encode_to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_packet_becomes_send_data_and_back() {
        let sent = lk::DataPacket {
            participant_identity: "mallory".into(),
            destination_identities: vec!["ann".into()],
            value: Some(lk::data_packet::Value::User(lk::UserPacket {
                payload: b"hi".to_vec(),
                topic: Some("chat".into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        let asked = inbound("_lossy", &sent.encode_to_vec(), 1024).unwrap();
        assert_eq!(
            asked,
            Inbound::Data(Command::SendData {
                payload: "aGk=".into(),
                topic: Some("chat".into()),
                destination_identities: vec!["ann".into()],
                reliable: false,
            })
        );
        let bytes = packet(Some("bob"), "aGk=", Some("chat"), true).unwrap();
        let got = lk::DataPacket::decode(bytes.as_slice()).unwrap();
        assert_eq!(got.participant_identity, "bob");
        let Some(lk::data_packet::Value::User(user)) = got.value else {
            panic!("a user packet")
        };
        assert_eq!(
            (user.payload.as_slice(), user.topic.as_deref()),
            (&b"hi"[..], Some("chat"))
        );
        assert!(inbound("_reliable", b"\xff\xff not protobuf", 1024).is_err());
        let speaker = lk::DataPacket {
            #[allow(deprecated)]
            value: Some(lk::data_packet::Value::Speaker(Default::default())),
            ..Default::default()
        };
        assert!(inbound("_reliable", &speaker.encode_to_vec(), 1024).is_err());
    }

    #[test]
    fn other_packets_travel_whole_and_are_restamped() {
        let rpc = lk::DataPacket {
            participant_identity: "mallory".into(),
            destination_identities: vec!["ann".into()],
            value: Some(lk::data_packet::Value::RpcRequest(lk::RpcRequest {
                id: "r1".into(),
                method: "greet".into(),
                payload: "hi".into(),
                response_timeout_ms: 5000,
                version: 1,
                ..Default::default()
            })),
            ..Default::default()
        };
        let sent = rpc.encode_to_vec();
        let Ok(Inbound::Data(Command::SendData {
            payload,
            topic,
            destination_identities,
            reliable,
        })) = inbound("_reliable", &sent, 1024)
        else {
            panic!("a data message")
        };
        assert_eq!(topic.as_deref(), Some(PACKET_TOPIC));
        assert_eq!(destination_identities, vec!["ann".to_string()]);
        assert!(reliable);
        let got = restamped(Some("bob"), &payload, true).unwrap();
        let got = lk::DataPacket::decode(got.as_slice()).unwrap();
        assert_eq!(
            got.participant_identity, "bob",
            "the room's stamp, not the claim"
        );
        assert!(got.destination_identities.is_empty());
        assert_eq!(got.value, rpc.value);
        // Not a packet, or a user packet (those travel as themselves): nothing to relay.
        assert_eq!(restamped(Some("bob"), "aGk=", true), None);
        let user = lk::DataPacket {
            value: Some(lk::data_packet::Value::User(Default::default())),
            ..Default::default()
        };
        let user = base64::engine::general_purpose::STANDARD.encode(user.encode_to_vec());
        assert_eq!(restamped(Some("bob"), &user, true), None);
        // The topic is the server's: a user packet on it is refused.
        let forged = lk::DataPacket {
            value: Some(lk::data_packet::Value::User(lk::UserPacket {
                payload: sent,
                topic: Some(PACKET_TOPIC.into()),
                ..Default::default()
            })),
            ..Default::default()
        };
        assert!(inbound("_reliable", &forged.encode_to_vec(), 1024).is_err());
    }

    #[test]
    fn requests_on_the_command_topic_are_parsed_and_some_refused() {
        let on = |topic: &str, payload: &str| {
            let p = lk::DataPacket {
                value: Some(lk::data_packet::Value::User(lk::UserPacket {
                    payload: payload.as_bytes().to_vec(),
                    topic: Some(topic.into()),
                    ..Default::default()
                })),
                ..Default::default()
            };
            inbound("_reliable", &p.encode_to_vec(), 1024)
        };
        let accept = r#"{"id":3,"type":"respond_request","request_id":"RQ_1","accept":true}"#;
        assert_eq!(
            on(COMMAND_TOPIC, accept).unwrap(),
            Inbound::Request(
                Value::from(3),
                Command::RespondRequest {
                    request_id: "RQ_1".into(),
                    accept: true
                }
            )
        );
        let refused = |r: Result<Inbound, &str>| match r {
            Ok(Inbound::Refused(id, e)) => (id, e.code),
            other => panic!("{other:?}"),
        };
        let invalid = gavel_core::ErrorCode::InvalidArgument;
        let moving = r#"{"id":"m","type":"move","identity":"bob","destination":"b"}"#;
        assert_eq!(
            refused(on(COMMAND_TOPIC, moving)),
            (Value::from("m"), invalid)
        );
        assert_eq!(
            refused(on(COMMAND_TOPIC, r#"{"id":4,"type":"media_subscribe"}"#)),
            (Value::from(4), invalid)
        );
        assert_eq!(refused(on(COMMAND_TOPIC, "{")), (Value::Null, invalid));
        assert!(
            on(EVENT_TOPIC, "{}").is_err(),
            "only the server sends events"
        );
    }
}
