//! LiveKit's `DataPacket`s: what a LiveKit client sends on its data channels, as the room's
//! `send_data`; and the room's `data_received`, as the packet its SDK reads.
//!
//! Only user packets (LiveKit's `publishData`) are relayed: they are what Gavel's data
//! messages are, so native and LiveKit clients exchange them both ways. LiveKit's other packet
//! kinds (RPC, text and byte streams, chat, transcriptions, metrics) have no Gavel equivalent
//! yet and are dropped (`docs/compat-livekit.md`).

use base64::Engine as _;
use gavel_core::Command;
use livekit_protocol as lk;
use prost::Message as _;

/// The data channel a message goes out on: LiveKit's clients open `_reliable` (ordered,
/// retransmitted) and `_lossy` (neither).
pub fn label(reliable: bool) -> &'static str {
    match reliable {
        true => "_reliable",
        false => "_lossy",
    }
}

/// The `send_data` a packet received on data channel `label` asks for, or why it is not one.
/// The sender is never taken from the packet: the room stamps it.
#[allow(deprecated)] // `UserPacket::destination_identities`: older SDKs still send it
pub fn command(label: &str, bytes: &[u8]) -> Result<Command, &'static str> {
    let packet = lk::DataPacket::decode(bytes).map_err(|_| "not a LiveKit DataPacket")?;
    let Some(lk::data_packet::Value::User(user)) = packet.value else {
        return Err("not a user packet (only those are relayed)");
    };
    // Destinations may be in either place, as LiveKit's SDKs have put them over time.
    let mut destinations = packet.destination_identities;
    destinations.extend(user.destination_identities);
    Ok(Command::SendData {
        payload: base64::engine::general_purpose::STANDARD.encode(&user.payload),
        topic: user.topic.filter(|t| !t.is_empty()),
        destination_identities: destinations,
        reliable: label != "_lossy",
    })
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
        let asked = command("_lossy", &sent.encode_to_vec()).unwrap();
        assert_eq!(
            asked,
            Command::SendData {
                payload: "aGk=".into(),
                topic: Some("chat".into()),
                destination_identities: vec!["ann".into()],
                reliable: false,
            }
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
        assert!(command("_reliable", b"\xff\xff not protobuf").is_err());
        let rpc = lk::DataPacket {
            value: Some(lk::data_packet::Value::RpcAck(Default::default())),
            ..Default::default()
        };
        assert!(command("_reliable", &rpc.encode_to_vec()).is_err());
    }
}
