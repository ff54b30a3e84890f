//! Fields at their default value in JSON responses, written the way LiveKit's server writes them.
//!
//! LiveKit's server encodes Twirp JSON with protojson's `EmitUnpopulated`: every field appears,
//! `"num_participants": 0`, `"tracks": []`, `"type": "AUDIO"`, `"version": null`. pbjson, which
//! encodes ours, leaves such fields out, and scripts reading the JSON by hand
//! (`jq .num_participants`) then find nothing. pbjson's generated code has no way to emit them
//! and prost types carry no field descriptors, so each message the handlers return is described
//! here by a table of its fields (`messages.rs`); `fill` adds what pbjson left out. The tables
//! are checked against the generated code, so a field added to `livekit-protocol` fails a test
//! rather than silently going missing.

use serde_json::Value;

/// A protobuf field's type, as far as protojson's `EmitUnpopulated` output depends on it.
#[derive(Debug)]
pub enum Kind {
    /// 32-bit integers: `0`.
    Number,
    /// 64-bit integers, which protojson writes as strings: `"0"`.
    Int64,
    /// `false`.
    Bool,
    /// Strings: `""`. (Bytes, in none of these messages, would need a kind of their own: their
    /// set values are base64.)
    String,
    /// An enum: the name of its value 0 (`"AUDIO"`).
    Enum(&'static str),
    /// `map<string, string>`: `{}`. Its keys are data, never filled.
    Map,
    /// A singular message: `null` when unset, its own fields filled when set.
    Message(&'static MessageType),
    /// `[]`; messages in it are filled.
    Repeated(&'static Kind),
    /// A member of a `oneof` (proto3 `optional` fields are one too): protojson leaves it out
    /// when unset, and so does pbjson.
    Oneof(&'static Kind),
}

/// One field: its proto name (what `names.rs` turns pbjson's names into) and its kind.
#[derive(Debug)]
pub struct Field(pub &'static str, pub Kind);

/// A message: its full proto name (`livekit.Room`) and every one of its fields.
#[derive(Debug)]
pub struct MessageType {
    // Read by the tests that pair each table with its generated type.
    #[cfg_attr(not(test), allow(dead_code))]
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// A message type whose JSON gets its unpopulated fields filled in before it is sent.
pub trait Proto {
    const TYPE: &'static MessageType;
}

impl Kind {
    /// What protojson writes for this field when it is unpopulated; `None`: nothing.
    fn unpopulated(&self) -> Option<Value> {
        Some(match self {
            Kind::Number => Value::from(0),
            Kind::Int64 => Value::from("0"),
            Kind::Bool => Value::Bool(false),
            Kind::String => Value::from(""),
            Kind::Enum(zero) => Value::from(*zero),
            Kind::Map => Value::Object(Default::default()),
            Kind::Message(_) => Value::Null,
            Kind::Repeated(_) => Value::Array(Vec::new()),
            Kind::Oneof(_) => return None,
        })
    }

    /// Fills the messages inside a populated value of this kind.
    fn fill_inside(&self, v: &mut Value) {
        match (self, v) {
            (Kind::Message(m), v) => fill(v, m),
            (Kind::Repeated(item), Value::Array(items)) => {
                items.iter_mut().for_each(|v| item.fill_inside(v))
            }
            (Kind::Oneof(member), v) => member.fill_inside(v),
            _ => {}
        }
    }
}

/// Adds every field of `message` missing from `v` (pbjson's JSON for it, with proto names) at
/// its unpopulated value, in `v` and in the messages it holds.
pub fn fill(v: &mut Value, message: &MessageType) {
    let Value::Object(present) = v else {
        return;
    };
    for Field(name, kind) in message.fields {
        match present.get_mut(*name) {
            Some(value) => kind.fill_inside(value),
            None => {
                if let Some(value) = kind.unpopulated() {
                    present.insert(name.to_string(), value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static INNER: MessageType = MessageType {
        name: "t.Inner",
        fields: &[Field("n", Kind::Int64), Field("on", Kind::Bool)],
    };
    static OUTER: MessageType = MessageType {
        name: "t.Outer",
        fields: &[
            Field("count", Kind::Number),
            Field("name", Kind::String),
            Field("kind", Kind::Enum("FIRST")),
            Field("labels", Kind::Map),
            Field("one", Kind::Message(&INNER)),
            Field("none", Kind::Message(&INNER)),
            Field("many", Kind::Repeated(&Kind::Message(&INNER))),
            Field("codes", Kind::Repeated(&Kind::Enum("FIRST"))),
            Field("either", Kind::Oneof(&Kind::String)),
            Field("or", Kind::Oneof(&Kind::Message(&INNER))),
        ],
    };

    #[test]
    fn fills_every_level_and_keeps_what_is_there() {
        let mut v = json!({
            "name": "x",
            "labels": {"aB": "1"},
            "one": {"on": true},
            "many": [{}, {"n": "5"}],
            "or": {},
        });
        fill(&mut v, &OUTER);
        assert_eq!(
            v,
            json!({
                "count": 0,
                "name": "x",
                "kind": "FIRST",
                "labels": {"aB": "1"},
                "one": {"n": "0", "on": true},
                "none": null,
                "many": [{"n": "0", "on": false}, {"n": "5", "on": false}],
                "codes": [],
                "or": {"n": "0", "on": false},
            })
        );
    }
}
