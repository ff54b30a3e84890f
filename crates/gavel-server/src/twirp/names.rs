//! Field names of JSON responses: pbjson writes lowerCamelCase (`numParticipants`), LiveKit's
//! server writes the proto names (`num_participants`, Twirp's default `UseProtoNames`), and
//! scripts reading LiveKit's JSON by hand expect those. Readers built on protojson or pbjson
//! accept both spellings, so this only keeps the output LiveKit-shaped.

use serde_json::Value;

/// The `map<string, string>` fields of RoomService responses (`ParticipantInfo.attributes`):
/// their keys are the caller's data, not field names, and stay as they are. A map field added
/// to a response later must be listed here too.
const MAP_FIELDS: &[&str] = &["attributes"];

/// Renames every message field of `v` (a pbjson-serialized message) to its proto name.
pub fn to_proto_names(v: &mut Value) {
    match v {
        Value::Object(fields) => {
            for (name, mut value) in std::mem::take(fields) {
                let name = snake_case(&name);
                if !MAP_FIELDS.contains(&name.as_str()) {
                    to_proto_names(&mut value);
                }
                fields.insert(name, value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(to_proto_names),
        _ => {}
    }
}

/// The inverse of protobuf's json_name for LiveKit's field names, which are lowercase words
/// joined by `_` (`joinedAtMs` → `joined_at_ms`).
pub(super) fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use livekit_protocol as lk;
    use serde_json::json;

    #[test]
    fn nested_messages_renamed_map_keys_kept() {
        let p = lk::ParticipantInfo {
            identity: "alice".into(),
            joined_at_ms: 1_790_000_000_123,
            permission: Some(lk::ParticipantPermission {
                can_publish_data: true,
                can_publish_sources: vec![lk::TrackSource::Microphone as i32],
                ..Default::default()
            }),
            tracks: vec![lk::TrackInfo {
                sid: "TR_1".into(),
                source: lk::TrackSource::Microphone as i32,
                ..Default::default()
            }],
            attributes: [("teamName".to_string(), "blue".to_string())].into(),
            ..Default::default()
        };
        let mut v = serde_json::to_value(&p).unwrap();
        to_proto_names(&mut v);
        assert_eq!(
            v,
            json!({
                "identity": "alice",
                "joined_at_ms": "1790000000123",
                "permission": {"can_publish_data": true, "can_publish_sources": ["MICROPHONE"]},
                "tracks": [{"sid": "TR_1", "source": "MICROPHONE"}],
                "attributes": {"teamName": "blue"},
            })
        );
    }
}
