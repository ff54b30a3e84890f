//! Twirp's two encodings: `application/protobuf` (prost) and `application/json` (protojson).
//!
//! JSON goes through `livekit-protocol`'s own pbjson (de)serializers. Input: snake_case or
//! camelCase keys, unknown keys ignored, int64 as a string or a number, enums by name or number,
//! bytes as base64. Output: LiveKit's, which is protojson's with `UseProtoNames` and
//! `EmitUnpopulated`: pbjson's, with the field names turned back into LiveKit's snake_case
//! (`names.rs`) and the fields pbjson leaves out at their default value written again
//! (`unpopulated.rs`).

use super::unpopulated::{self, Proto};
use super::{names, TwirpError};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Protobuf,
}

impl Format {
    pub fn of(headers: &HeaderMap) -> Result<Format, TwirpError> {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = ct.split(';').next().unwrap_or("").trim();
        match mime {
            "application/json" => Ok(Format::Json),
            "application/protobuf" | "application/x-protobuf" => Ok(Format::Protobuf),
            _ => Err(TwirpError::new(
                "bad_route",
                format!("unexpected Content-Type: {ct:?} (use application/protobuf or application/json)"),
            )),
        }
    }

    pub fn decode<T: prost::Message + Default + DeserializeOwned>(
        self,
        body: &[u8],
    ) -> Result<T, TwirpError> {
        match self {
            Format::Protobuf => T::decode(body)
                .map_err(|e| TwirpError::malformed(format!("cannot decode protobuf: {e}"))),
            Format::Json => from_json(body),
        }
    }

    pub fn encode<T: prost::Message + Serialize + Proto>(
        self,
        msg: &T,
    ) -> Result<Response, TwirpError> {
        Ok(match self {
            Format::Protobuf => (
                [(header::CONTENT_TYPE, "application/protobuf")],
                msg.encode_to_vec(),
            )
                .into_response(),
            Format::Json => {
                // Fails only for an enum field holding a number the enum does not name.
                let mut v = serde_json::to_value(msg)
                    .map_err(|e| TwirpError::new("internal", format!("cannot encode JSON: {e}")))?;
                names::to_proto_names(&mut v);
                unpopulated::fill(&mut v, T::TYPE);
                axum::Json(v).into_response()
            }
        })
    }
}

/// A JSON request body. An empty body reads as `{}`, so a request without fields may be sent
/// without one. Errors name the field at fault as the client spelled it
/// (`permission.canPublishSources[0]`): serde_json's own message gives only a line and column.
fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, TwirpError> {
    let body: &[u8] = if body.trim_ascii().is_empty() {
        b"{}"
    } else {
        body
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let msg = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let e = e.into_inner();
        if e.is_syntax() || e.is_eof() || path == "." {
            TwirpError::malformed(format!("malformed JSON: {e}"))
        } else {
            TwirpError::malformed(format!("`{path}`: {e}"))
        }
    })?;
    de.end()
        .map_err(|e| TwirpError::malformed(format!("malformed JSON: {e}")))?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_protocol as lk;

    #[test]
    fn snake_and_camel_keys_unknown_ignored() {
        let r: lk::MoveParticipantRequest =
            from_json(br#"{"destinationRoom":"b","room":"a","later":1}"#).unwrap();
        assert_eq!((r.room.as_str(), r.destination_room.as_str()), ("a", "b"));
        assert_eq!(r.identity, "");
        let r: lk::MoveParticipantRequest = from_json(br#"{"destination_room":"b"}"#).unwrap();
        assert_eq!(r.destination_room, "b");
    }

    #[test]
    fn empty_body_is_an_empty_message() {
        let r: lk::ListRoomsRequest = from_json(b" \n").unwrap();
        assert!(r.names.is_empty());
    }

    #[test]
    fn errors_are_malformed_and_name_the_field() {
        let e = from_json::<lk::DeleteRoomRequest>(br#"{"room":1}"#).unwrap_err();
        assert_eq!(e.code, "malformed");
        assert!(e.msg.starts_with("`room`: invalid type"), "{}", e.msg);
        let e = from_json::<lk::UpdateParticipantRequest>(
            br#"{"permission":{"canPublishSources":["NOPE"]}}"#,
        )
        .unwrap_err();
        assert!(
            e.msg.starts_with("`permission.canPublishSources[0]`"),
            "{}",
            e.msg
        );
        for bad in [&b"{"[..], b"[1]", b"{} {}", b"nope"] {
            let e = from_json::<lk::DeleteRoomRequest>(bad).unwrap_err();
            assert_eq!(e.code, "malformed", "{bad:?}");
            assert!(e.msg.starts_with("malformed JSON"), "{bad:?}: {}", e.msg);
        }
    }

    #[test]
    fn protojson_scalars_in() {
        let r: lk::SendDataRequest = from_json(
            br#"{"data":"aGVsbG8","kind":"LOSSY","topic":"t","destinationIdentities":["b"]}"#,
        )
        .unwrap();
        assert_eq!(r.data, b"hello");
        assert_eq!(r.kind, lk::data_packet::Kind::Lossy as i32);
        assert_eq!(r.topic.as_deref(), Some("t"));
        let r: lk::RoomParticipantIdentity = from_json(br#"{"revoke_token_ts":"17"}"#).unwrap();
        assert_eq!(r.revoke_token_ts, 17);
        let r: lk::RoomParticipantIdentity = from_json(br#"{"revokeTokenTs":18}"#).unwrap();
        assert_eq!(r.revoke_token_ts, 18);
    }
}
