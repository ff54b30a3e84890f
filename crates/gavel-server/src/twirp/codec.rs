//! Twirp's two encodings: `application/protobuf` (prost) and `application/json` (protojson).
//!
//! `livekit-protocol` ships no JSON (de)serializers, so each message type used here implements
//! [`JsonIn`] / [`JsonOut`]. JSON input accepts both snake_case and camelCase keys; JSON output
//! uses snake_case, and 64-bit integers are strings, as protojson does.

use super::TwirpError;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

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

    pub fn decode<T: prost::Message + Default + JsonIn>(
        self,
        body: &[u8],
    ) -> Result<T, TwirpError> {
        match self {
            Format::Protobuf => T::decode(body)
                .map_err(|e| TwirpError::malformed(format!("cannot decode protobuf: {e}"))),
            Format::Json => {
                if body.iter().all(u8::is_ascii_whitespace) {
                    return T::from_json(&Map::new());
                }
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(m)) => T::from_json(&m),
                    Ok(_) => Err(TwirpError::malformed("the body must be a JSON object")),
                    Err(e) => Err(TwirpError::malformed(format!("malformed JSON: {e}"))),
                }
            }
        }
    }

    pub fn encode<T: prost::Message + JsonOut>(self, msg: &T) -> Result<Response, TwirpError> {
        Ok(match self {
            Format::Protobuf => (
                [(header::CONTENT_TYPE, "application/protobuf")],
                msg.encode_to_vec(),
            )
                .into_response(),
            Format::Json => axum::Json(Value::Object(msg.to_json())).into_response(),
        })
    }
}

pub trait JsonIn: Sized {
    fn from_json(m: &Map<String, Value>) -> Result<Self, TwirpError>;
}

pub trait JsonOut {
    fn to_json(&self) -> Map<String, Value>;
}

/// The value under `snake` or its camelCase spelling.
pub fn get<'a>(m: &'a Map<String, Value>, snake: &str) -> Option<&'a Value> {
    m.get(snake).or_else(|| m.get(&camel(snake)))
}

fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub fn string(m: &Map<String, Value>, key: &str) -> Result<String, TwirpError> {
    match get(m, key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(TwirpError::malformed(format!("`{key}` must be a string"))),
    }
}

pub fn strings(m: &Map<String, Value>, key: &str) -> Result<Vec<String>, TwirpError> {
    match get(m, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| TwirpError::malformed(format!("`{key}` must hold strings")))
            })
            .collect(),
        Some(_) => Err(TwirpError::malformed(format!("`{key}` must be a list"))),
    }
}

pub fn boolean(m: &Map<String, Value>, key: &str) -> Result<bool, TwirpError> {
    match get(m, key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(TwirpError::malformed(format!("`{key}` must be a boolean"))),
    }
}

/// protojson accepts int64 as a number or a decimal string.
pub fn int64_in(m: &Map<String, Value>, key: &str) -> Result<i64, TwirpError> {
    let bad = || TwirpError::malformed(format!("`{key}` must be an int64"));
    match get(m, key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(bad),
        Some(Value::String(s)) => s.parse().map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// protojson's `bytes`: standard base64 (URL-safe and unpadded spellings accepted too).
pub fn bytes_in(m: &Map<String, Value>, key: &str) -> Result<Vec<u8>, TwirpError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use base64::Engine;
    match get(m, key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')))
            .map_err(|_| TwirpError::malformed(format!("`{key}` must be base64"))),
        Some(_) => Err(TwirpError::malformed(format!(
            "`{key}` must be a base64 string"
        ))),
    }
}

/// A protobuf enum in protojson: its name, or its number.
pub fn enum_in(m: &Map<String, Value>, key: &str, names: &[&str]) -> Result<i32, TwirpError> {
    let bad = || TwirpError::malformed(format!("`{key}` must be one of {names:?} or its number"));
    match get(m, key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(bad),
        Some(Value::String(s)) => names
            .iter()
            .position(|n| n == s)
            .map(|i| i as i32)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// protojson writes int64 as a string.
pub fn int64(v: i64) -> Value {
    Value::String(v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_and_snake_keys() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"destinationRoom":"b","room":"a"}"#).unwrap();
        assert_eq!(string(&m, "destination_room").unwrap(), "b");
        assert_eq!(string(&m, "room").unwrap(), "a");
        assert_eq!(string(&m, "identity").unwrap(), "");
        assert!(string(&serde_json::from_str(r#"{"room":1}"#).unwrap(), "room").is_err());
    }
}
