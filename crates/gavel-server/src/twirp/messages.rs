//! The fields of every message a RoomService handler returns, and of the messages inside them,
//! as declared in `livekit-protocol` 0.8.2 (`livekit.rs`), for `unpopulated.rs`. The tests
//! below hold each table against the crate's generated serde code: a field it gains in a later
//! version, or a message left without a table, fails them.

use super::unpopulated::{Field, Kind::*, MessageType, Proto};
use livekit_protocol as lk;

static ROOM: MessageType = MessageType {
    name: "livekit.Room",
    fields: &[
        Field("sid", String),
        Field("name", String),
        Field("empty_timeout", Number),
        Field("departure_timeout", Number),
        Field("max_participants", Number),
        Field("creation_time", Int64),
        Field("creation_time_ms", Int64),
        Field("turn_password", String),
        Field("enabled_codecs", Repeated(&Message(&CODEC))),
        Field("metadata", String),
        Field("num_participants", Number),
        Field("num_publishers", Number),
        Field("active_recording", Bool),
        Field("version", Message(&TIMED_VERSION)),
    ],
};

static CODEC: MessageType = MessageType {
    name: "livekit.Codec",
    fields: &[Field("mime", String), Field("fmtp_line", String)],
};

static TIMED_VERSION: MessageType = MessageType {
    name: "livekit.TimedVersion",
    fields: &[Field("unix_micro", Int64), Field("ticks", Number)],
};

static LIST_ROOMS_RESPONSE: MessageType = MessageType {
    name: "livekit.ListRoomsResponse",
    fields: &[Field("rooms", Repeated(&Message(&ROOM)))],
};

static PARTICIPANT_INFO: MessageType = MessageType {
    name: "livekit.ParticipantInfo",
    fields: &[
        Field("sid", String),
        Field("identity", String),
        Field("state", Enum("JOINING")),
        Field("tracks", Repeated(&Message(&TRACK_INFO))),
        Field("metadata", String),
        Field("joined_at", Int64),
        Field("joined_at_ms", Int64),
        Field("name", String),
        Field("version", Number),
        Field("permission", Message(&PARTICIPANT_PERMISSION)),
        Field("region", String),
        Field("is_publisher", Bool),
        Field("kind", Enum("STANDARD")),
        Field("attributes", Map),
        Field("disconnect_reason", Enum("UNKNOWN_REASON")),
        Field("kind_details", Repeated(&Enum("CLOUD_AGENT"))),
        Field("data_tracks", Repeated(&Message(&DATA_TRACK_INFO))),
        Field("client_protocol", Number),
        Field("capabilities", Repeated(&Enum("CAP_UNUSED"))),
    ],
};

static TRACK_INFO: MessageType = MessageType {
    name: "livekit.TrackInfo",
    fields: &[
        Field("sid", String),
        Field("type", Enum("AUDIO")),
        Field("name", String),
        Field("muted", Bool),
        Field("width", Number),
        Field("height", Number),
        Field("simulcast", Bool),
        Field("disable_dtx", Bool),
        Field("source", Enum("UNKNOWN")),
        Field("layers", Repeated(&Message(&VIDEO_LAYER))),
        Field("mime_type", String),
        Field("mid", String),
        Field("codecs", Repeated(&Message(&SIMULCAST_CODEC_INFO))),
        Field("stereo", Bool),
        Field("disable_red", Bool),
        Field("encryption", Enum("NONE")),
        Field("stream", String),
        Field("version", Message(&TIMED_VERSION)),
        Field("audio_features", Repeated(&Enum("TF_STEREO"))),
        Field("backup_codec_policy", Enum("PREFER_REGRESSION")),
        Field(
            "packet_trailer_features",
            Repeated(&Enum("PTF_USER_TIMESTAMP")),
        ),
    ],
};

static VIDEO_LAYER: MessageType = MessageType {
    name: "livekit.VideoLayer",
    fields: &[
        Field("quality", Enum("LOW")),
        Field("width", Number),
        Field("height", Number),
        Field("bitrate", Number),
        Field("ssrc", Number),
        Field("spatial_layer", Number),
        Field("rid", String),
        Field("repair_ssrc", Number),
    ],
};

static SIMULCAST_CODEC_INFO: MessageType = MessageType {
    name: "livekit.SimulcastCodecInfo",
    fields: &[
        Field("mime_type", String),
        Field("mid", String),
        Field("cid", String),
        Field("layers", Repeated(&Message(&VIDEO_LAYER))),
        Field("video_layer_mode", Enum("MODE_UNUSED")),
        Field("sdp_cid", String),
    ],
};

static PARTICIPANT_PERMISSION: MessageType = MessageType {
    name: "livekit.ParticipantPermission",
    fields: &[
        Field("can_subscribe", Bool),
        Field("can_publish", Bool),
        Field("can_publish_data", Bool),
        Field("can_publish_sources", Repeated(&Enum("UNKNOWN"))),
        Field("hidden", Bool),
        Field("recorder", Bool),
        Field("can_update_metadata", Bool),
        Field("agent", Bool),
        Field("can_subscribe_metrics", Bool),
        Field("can_manage_agent_session", Bool),
    ],
};

static DATA_TRACK_INFO: MessageType = MessageType {
    name: "livekit.DataTrackInfo",
    fields: &[
        Field("pub_handle", Number),
        Field("sid", String),
        Field("name", String),
        Field("encryption", Enum("NONE")),
        Field("frame_encoding", Message(&DATA_TRACK_FRAME_ENCODING)),
        Field("schema", Message(&DATA_TRACK_SCHEMA_ID)),
    ],
};

static DATA_TRACK_FRAME_ENCODING: MessageType = MessageType {
    name: "livekit.DataTrackFrameEncoding",
    fields: &[
        Field(
            "well_known",
            Oneof(&Enum("WELL_KNOWN_FRAME_ENCODING_UNSPECIFIED")),
        ),
        Field("custom", Oneof(&String)),
    ],
};

static DATA_TRACK_SCHEMA_ID: MessageType = MessageType {
    name: "livekit.DataTrackSchemaId",
    fields: &[
        Field("name", String),
        Field("encoding", Message(&DATA_TRACK_SCHEMA_ENCODING)),
    ],
};

static DATA_TRACK_SCHEMA_ENCODING: MessageType = MessageType {
    name: "livekit.DataTrackSchemaEncoding",
    fields: &[
        Field(
            "well_known",
            Oneof(&Enum("WELL_KNOWN_SCHEMA_ENCODING_UNSPECIFIED")),
        ),
        Field("custom", Oneof(&String)),
    ],
};

static LIST_PARTICIPANTS_RESPONSE: MessageType = MessageType {
    name: "livekit.ListParticipantsResponse",
    fields: &[Field("participants", Repeated(&Message(&PARTICIPANT_INFO)))],
};

static MUTE_ROOM_TRACK_RESPONSE: MessageType = MessageType {
    name: "livekit.MuteRoomTrackResponse",
    fields: &[Field("track", Message(&TRACK_INFO))],
};

macro_rules! empty {
    ($($ty:ident),*) => {$(
        impl Proto for lk::$ty {
            const TYPE: &'static MessageType = &MessageType {
                name: concat!("livekit.", stringify!($ty)),
                fields: &[],
            };
        }
    )*};
}

empty!(
    DeleteRoomResponse,
    RemoveParticipantResponse,
    MoveParticipantResponse,
    SendDataResponse
);

macro_rules! proto {
    ($($ty:ident => $table:ident),* $(,)?) => {$(
        impl Proto for lk::$ty {
            const TYPE: &'static MessageType = &$table;
        }
    )*};
}

proto!(
    Room => ROOM,
    Codec => CODEC,
    TimedVersion => TIMED_VERSION,
    ListRoomsResponse => LIST_ROOMS_RESPONSE,
    ParticipantInfo => PARTICIPANT_INFO,
    TrackInfo => TRACK_INFO,
    VideoLayer => VIDEO_LAYER,
    SimulcastCodecInfo => SIMULCAST_CODEC_INFO,
    ParticipantPermission => PARTICIPANT_PERMISSION,
    DataTrackInfo => DATA_TRACK_INFO,
    DataTrackFrameEncoding => DATA_TRACK_FRAME_ENCODING,
    DataTrackSchemaId => DATA_TRACK_SCHEMA_ID,
    DataTrackSchemaEncoding => DATA_TRACK_SCHEMA_ENCODING,
    ListParticipantsResponse => LIST_PARTICIPANTS_RESPONSE,
    MuteRoomTrackResponse => MUTE_ROOM_TRACK_RESPONSE,
);

#[cfg(test)]
mod tests {
    use super::super::names::{snake_case, to_proto_names};
    use super::super::unpopulated::{fill, Kind};
    use super::*;
    use serde::de::{DeserializeOwned, Visitor};
    use serde::Serialize;
    use serde_json::{json, Value};
    use std::collections::BTreeSet;

    /// The proto name and field names (proto and camelCase) that the generated `Deserialize`
    /// of `T` passes to `deserialize_struct`: every field the message has.
    fn generated_fields<T: DeserializeOwned>() -> (&'static str, &'static [&'static str]) {
        match T::deserialize(Probe) {
            Err(Probed(Some(found))) => found,
            _ => panic!("{} is not a generated message", std::any::type_name::<T>()),
        }
    }

    /// A deserializer that stops at `deserialize_struct` and reports its arguments.
    struct Probe;

    #[derive(Debug)]
    struct Probed(Option<(&'static str, &'static [&'static str])>);

    impl std::fmt::Display for Probed {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }

    impl std::error::Error for Probed {}

    impl serde::de::Error for Probed {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Probed(None)
        }
    }

    impl<'de> serde::Deserializer<'de> for Probe {
        type Error = Probed;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
            Err(Probed(None))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Probed> {
            Err(Probed(Some((name, fields))))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    /// `v` read and written again by pbjson, with proto names: what a handler's reply looks
    /// like before `fill`.
    fn through_pbjson<T: DeserializeOwned + Serialize>(v: Value) -> Value {
        let msg: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"));
        let mut out = serde_json::to_value(&msg).unwrap();
        to_proto_names(&mut out);
        out
    }

    /// A value of `kind` that is not its default; `None` for oneof members, of which only one
    /// may be set.
    fn populated(kind: &Kind) -> Option<Value> {
        Some(match kind {
            Kind::Number => json!(1),
            Kind::Int64 => json!("1"),
            Kind::Bool => json!(true),
            Kind::String => json!("x"),
            Kind::Enum(_) => json!(1),
            Kind::Map => json!({"k": "v"}),
            Kind::Message(m) => m
                .fields
                .iter()
                .filter_map(|Field(name, kind)| Some((name.to_string(), populated(kind)?)))
                .collect(),
            Kind::Repeated(item) => json!([populated(item)?]),
            Kind::Oneof(_) => return None,
        })
    }

    /// `out` is what pbjson writes for `populated(kind)`: the kind in the table is the field's.
    fn assert_populated(kind: &Kind, out: &Value, at: &str) {
        match kind {
            Kind::Enum(zero) => {
                assert!(out.is_string() && out != zero, "{at}: {out}")
            }
            Kind::Message(m) => {
                let Value::Object(fields) = out else {
                    panic!("{at}: {out}")
                };
                let written: BTreeSet<&str> = fields.keys().map(|k| k.as_str()).collect();
                let expected: BTreeSet<&str> = m
                    .fields
                    .iter()
                    .filter(|Field(_, kind)| !matches!(kind, Kind::Oneof(_)))
                    .map(|Field(name, _)| *name)
                    .collect();
                assert_eq!(written, expected, "{at}");
                for Field(name, kind) in m.fields {
                    if let Some(v) = fields.get(*name) {
                        assert_populated(kind, v, &format!("{at}.{name}"));
                    }
                }
            }
            Kind::Repeated(item) => match out.as_array().map(Vec::as_slice) {
                Some([v]) => assert_populated(item, v, &format!("{at}[0]")),
                _ => panic!("{at}: {out}"),
            },
            other => assert_eq!(Some(out), populated(other).as_ref(), "{at}"),
        }
    }

    /// Holds `T`'s table against its generated code; returns the table.
    fn check<T: Proto + DeserializeOwned + Serialize>() -> &'static MessageType {
        let table = T::TYPE;
        let (name, accepted) = generated_fields::<T>();
        assert_eq!(table.name, name);

        // The same fields: pbjson accepts each by its proto name and its camelCase name.
        let generated: BTreeSet<std::string::String> =
            accepted.iter().map(|f| snake_case(f)).collect();
        let listed: BTreeSet<std::string::String> =
            table.fields.iter().map(|f| f.0.to_string()).collect();
        assert_eq!(listed, generated, "{name}: fields");

        // Every value `fill` writes is the field's default (enums: the name of value 0).
        let mut unpopulated = json!({});
        fill(&mut unpopulated, table);
        assert_eq!(through_pbjson::<T>(unpopulated), json!({}), "{name}");
        for Field(field, kind) in table.fields {
            if let Kind::Repeated(Kind::Enum(zero)) = kind {
                let out = through_pbjson::<T>(json!({ *field: [0] }));
                assert_eq!(out, json!({ *field: [zero] }), "{name}.{field}");
            }
        }

        // Every field set: pbjson writes each, as its kind says.
        let all = populated(&Kind::Message(table)).unwrap();
        assert_populated(&Kind::Message(table), &through_pbjson::<T>(all), name);
        table
    }

    #[test]
    fn tables_match_livekit_protocol() {
        let checked = [
            check::<lk::Room>(),
            check::<lk::Codec>(),
            check::<lk::TimedVersion>(),
            check::<lk::ListRoomsResponse>(),
            check::<lk::ParticipantInfo>(),
            check::<lk::TrackInfo>(),
            check::<lk::VideoLayer>(),
            check::<lk::SimulcastCodecInfo>(),
            check::<lk::ParticipantPermission>(),
            check::<lk::DataTrackInfo>(),
            check::<lk::DataTrackFrameEncoding>(),
            check::<lk::DataTrackSchemaId>(),
            check::<lk::DataTrackSchemaEncoding>(),
            check::<lk::ListParticipantsResponse>(),
            check::<lk::MuteRoomTrackResponse>(),
            check::<lk::DeleteRoomResponse>(),
            check::<lk::RemoveParticipantResponse>(),
            check::<lk::MoveParticipantResponse>(),
            check::<lk::SendDataResponse>(),
        ];
        // A message inside a checked one has been checked too.
        fn inner(kind: &Kind) -> Option<&'static MessageType> {
            match kind {
                Kind::Message(m) => Some(m),
                Kind::Repeated(k) | Kind::Oneof(k) => inner(k),
                _ => None,
            }
        }
        for table in checked {
            for Field(field, kind) in table.fields {
                if let Some(m) = inner(kind) {
                    assert!(
                        checked.iter().any(|c| std::ptr::eq(*c, m)),
                        "{}.{field}: {} is not checked",
                        table.name,
                        m.name
                    );
                }
            }
        }
    }

    #[test]
    fn a_track_as_livekit_writes_it() {
        let track = lk::TrackInfo {
            sid: "TR_1".into(),
            name: "mic".into(),
            source: lk::TrackSource::Microphone as i32,
            ..Default::default()
        };
        let mut v = serde_json::to_value(lk::MuteRoomTrackResponse { track: Some(track) }).unwrap();
        to_proto_names(&mut v);
        fill(&mut v, &MUTE_ROOM_TRACK_RESPONSE);
        assert_eq!(
            v,
            json!({"track": {
                "sid": "TR_1",
                "type": "AUDIO",
                "name": "mic",
                "muted": false,
                "width": 0,
                "height": 0,
                "simulcast": false,
                "disable_dtx": false,
                "source": "MICROPHONE",
                "layers": [],
                "mime_type": "",
                "mid": "",
                "codecs": [],
                "stereo": false,
                "disable_red": false,
                "encryption": "NONE",
                "stream": "",
                "version": null,
                "audio_features": [],
                "backup_codec_policy": "PREFER_REGRESSION",
                "packet_trailer_features": [],
            }})
        );
    }
}
