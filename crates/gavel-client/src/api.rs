//! The HTTP server API.

use gavel_core::{Error, ErrorCode};
use serde_json::{json, Value};
use std::fmt;

/// A failed call: the HTTP status and the server's error object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub error: Error,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.error)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        self.error.code
    }
}

#[derive(Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiClient {
    /// `base` is the server's HTTP URL, e.g. `http://127.0.0.1:7880`.
    pub fn new(base: &str, token: &str) -> Self {
        ApiClient {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Any call: method, path under the base, optional JSON body. Returns the JSON reply.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| ApiError {
            status: 0,
            error: Error::new(ErrorCode::Internal, format!("request failed: {e}")),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let error = serde_json::from_value(value["error"].clone()).unwrap_or_else(|_| {
            Error::new(
                ErrorCode::Internal,
                format!("unexpected error body: {value}"),
            )
        });
        Err(ApiError { status, error })
    }

    fn p(room: &str, identity: &str, action: &str) -> String {
        format!("/v1/rooms/{room}/participants/{identity}{action}")
    }

    pub async fn create_room(&self, name: &str, settings: Value) -> Result<Value, ApiError> {
        let mut body = settings;
        if body.is_null() {
            body = json!({});
        }
        body["name"] = json!(name);
        self.call("POST", "/v1/rooms", Some(body)).await
    }
    pub async fn list_rooms(&self) -> Result<Value, ApiError> {
        self.call("GET", "/v1/rooms", None).await
    }
    pub async fn get_room(&self, room: &str) -> Result<Value, ApiError> {
        self.call("GET", &format!("/v1/rooms/{room}"), None).await
    }
    /// Replaces the room's metadata; everyone in it gets `room_updated`.
    pub async fn update_room_metadata(
        &self,
        room: &str,
        metadata: &str,
    ) -> Result<Value, ApiError> {
        let body = json!({ "metadata": metadata });
        self.call("PATCH", &format!("/v1/rooms/{room}"), Some(body))
            .await
    }
    /// A data message from the server (`payload` is base64); `to` empty means everyone.
    pub async fn send_data(
        &self,
        room: &str,
        payload: &str,
        topic: Option<&str>,
        to: &[&str],
    ) -> Result<Value, ApiError> {
        let body = json!({ "payload": payload, "topic": topic, "destination_identities": to });
        self.call("POST", &format!("/v1/rooms/{room}/data"), Some(body))
            .await
    }
    pub async fn delete_room(&self, room: &str) -> Result<Value, ApiError> {
        self.call("DELETE", &format!("/v1/rooms/{room}"), None)
            .await
    }
    pub async fn list_participants(&self, room: &str) -> Result<Value, ApiError> {
        self.call("GET", &format!("/v1/rooms/{room}/participants"), None)
            .await
    }
    pub async fn get_participant(&self, room: &str, identity: &str) -> Result<Value, ApiError> {
        self.call("GET", &Self::p(room, identity, ""), None).await
    }
    /// Body fields: permissions, role, name, metadata, attributes, capabilities.
    pub async fn update_participant(
        &self,
        room: &str,
        identity: &str,
        update: Value,
    ) -> Result<Value, ApiError> {
        self.call("PATCH", &Self::p(room, identity, ""), Some(update))
            .await
    }
    pub async fn mute(
        &self,
        room: &str,
        identity: &str,
        source: &str,
        muted: bool,
    ) -> Result<Value, ApiError> {
        let body = json!({"source": source, "muted": muted});
        self.call("POST", &Self::p(room, identity, "/mute"), Some(body))
            .await
    }
    /// `wait_seconds`: answer only once the target responded (or the wait ran out).
    pub async fn request_media(
        &self,
        room: &str,
        identity: &str,
        source: &str,
        wait_seconds: Option<u64>,
    ) -> Result<Value, ApiError> {
        let mut body = json!({"source": source});
        if let Some(w) = wait_seconds {
            body["wait_seconds"] = json!(w);
        }
        self.call(
            "POST",
            &Self::p(room, identity, "/request-media"),
            Some(body),
        )
        .await
    }
    pub async fn remove(
        &self,
        room: &str,
        identity: &str,
        ban_seconds: Option<u64>,
    ) -> Result<Value, ApiError> {
        let body = match ban_seconds {
            Some(b) => json!({"ban_seconds": b}),
            None => json!({}),
        };
        self.call("POST", &Self::p(room, identity, "/remove"), Some(body))
            .await
    }
    pub async fn remove_many(
        &self,
        room: &str,
        identities: &[&str],
        ban_seconds: Option<u64>,
    ) -> Result<Value, ApiError> {
        let mut body = json!({"identities": identities});
        if let Some(b) = ban_seconds {
            body["ban_seconds"] = json!(b);
        }
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/participants:remove"),
            Some(body),
        )
        .await
    }
    pub async fn move_participant(
        &self,
        room: &str,
        identity: &str,
        destination: &str,
    ) -> Result<Value, ApiError> {
        let body = json!({"destination": destination});
        self.call("POST", &Self::p(room, identity, "/move"), Some(body))
            .await
    }
    pub async fn pin(&self, room: &str, identity: &str) -> Result<Value, ApiError> {
        self.call("POST", &Self::p(room, identity, "/pin"), None)
            .await
    }
    pub async fn unpin(&self, room: &str, identity: &str) -> Result<Value, ApiError> {
        self.call("DELETE", &Self::p(room, identity, "/pin"), None)
            .await
    }
    /// `updates`: identity (or `*`) → {set_audio, set_video, set_screen, eject, permissions, role, metadata}.
    pub async fn batch_update(&self, room: &str, updates: Value) -> Result<Value, ApiError> {
        let body = json!({"updates": updates});
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/participants:batch"),
            Some(body),
        )
        .await
    }
    pub async fn mute_all(
        &self,
        room: &str,
        source: &str,
        except: &[&str],
    ) -> Result<Value, ApiError> {
        let body = json!({"source": source, "except": except});
        self.call("POST", &format!("/v1/rooms/{room}/mute-all"), Some(body))
            .await
    }
    pub async fn end_session(&self, room: &str) -> Result<Value, ApiError> {
        self.call("POST", &format!("/v1/rooms/{room}/end"), None)
            .await
    }
    /// Locks (or unlocks) `room`: while locked nobody new comes in.
    pub async fn lock_room(&self, room: &str, locked: bool) -> Result<Value, ApiError> {
        let what = if locked { "lock" } else { "unlock" };
        self.call("POST", &format!("/v1/rooms/{room}/{what}"), None)
            .await
    }
    /// Opens breakout rooms from `room`: `{"count": n}` or `{"rooms": [...]}`, plus
    /// `duration_seconds` / `countdown_seconds` (docs/protocol.md, "Breakout rooms").
    pub async fn open_breakouts(&self, room: &str, body: Value) -> Result<Value, ApiError> {
        self.call("POST", &format!("/v1/rooms/{room}/breakouts"), Some(body))
            .await
    }
    /// Closes `room`'s breakout rooms: everyone is warned, then brought back.
    pub async fn close_breakouts(
        &self,
        room: &str,
        countdown_seconds: Option<u32>,
    ) -> Result<Value, ApiError> {
        let body = json!({ "countdown_seconds": countdown_seconds });
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/breakouts/close"),
            Some(body),
        )
        .await
    }
    /// A message to everyone in `room` and its breakout rooms.
    pub async fn broadcast_to_breakouts(
        &self,
        room: &str,
        message: &str,
    ) -> Result<Value, ApiError> {
        let body = json!({ "message": message });
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/breakouts/broadcast"),
            Some(body),
        )
        .await
    }
    /// Who waits in `room`'s waiting room, oldest first (`{"waiting": [...]}`).
    pub async fn waiting(&self, room: &str) -> Result<Value, ApiError> {
        self.call("GET", &format!("/v1/rooms/{room}/waiting"), None)
            .await
    }
    /// Lets `identities` (none: everyone waiting) in from `room`'s waiting room.
    pub async fn admit(&self, room: &str, identities: &[&str]) -> Result<Value, ApiError> {
        let body = json!({"identities": identities, "all": identities.is_empty()});
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/waiting/admit"),
            Some(body),
        )
        .await
    }
    /// Turns `identities` (none: everyone waiting) away, telling them `message`; with
    /// `ban_seconds`, bans them too.
    pub async fn deny(
        &self,
        room: &str,
        identities: &[&str],
        message: Option<&str>,
        ban_seconds: Option<u64>,
    ) -> Result<Value, ApiError> {
        let body = json!({
            "identities": identities,
            "all": identities.is_empty(),
            "message": message,
            "ban_seconds": ban_seconds,
        });
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/waiting/deny"),
            Some(body),
        )
        .await
    }
    /// Turns `room`'s waiting room on or off (off lets everyone waiting in).
    pub async fn set_waiting_room(&self, room: &str, enabled: bool) -> Result<Value, ApiError> {
        let body = json!({ "enabled": enabled });
        self.call(
            "POST",
            &format!("/v1/rooms/{room}/waiting-room"),
            Some(body),
        )
        .await
    }
    pub async fn list_bans(&self, room: &str) -> Result<Value, ApiError> {
        self.call("GET", &format!("/v1/rooms/{room}/bans"), None)
            .await
    }
    /// The moderation audit log, newest first.
    pub async fn audit(&self, room: &str, limit: usize) -> Result<Value, ApiError> {
        self.call(
            "GET",
            &format!("/v1/rooms/{room}/audit?limit={limit}"),
            None,
        )
        .await
    }
    /// Session history, newest first.
    pub async fn sessions(&self, room: &str, limit: usize) -> Result<Value, ApiError> {
        self.call(
            "GET",
            &format!("/v1/rooms/{room}/sessions?limit={limit}"),
            None,
        )
        .await
    }
    /// Webhook endpoints, with the events waiting for each.
    pub async fn webhooks(&self) -> Result<Value, ApiError> {
        self.call("GET", "/v1/webhooks", None).await
    }
    /// Creates an endpoint: `{"name", "url", "events"?, "api_key"?}`.
    pub async fn add_webhook(&self, endpoint: Value) -> Result<Value, ApiError> {
        self.call("POST", "/v1/webhooks", Some(endpoint)).await
    }
    pub async fn remove_webhook(&self, name: &str) -> Result<Value, ApiError> {
        self.call("DELETE", &format!("/v1/webhooks/{name}"), None)
            .await
    }
    /// An endpoint's delivery log (newest first) and the events waiting for it.
    pub async fn webhook_deliveries(&self, name: &str, limit: usize) -> Result<Value, ApiError> {
        self.call(
            "GET",
            &format!("/v1/webhooks/{name}/deliveries?limit={limit}"),
            None,
        )
        .await
    }
    /// Sends a `test` event to one endpoint; returns its `event_id`.
    pub async fn test_webhook(&self, name: &str) -> Result<Value, ApiError> {
        self.call("POST", &format!("/v1/webhooks/{name}/test"), None)
            .await
    }
    /// Queues logged events of an endpoint again.
    pub async fn replay_webhooks(&self, name: &str, event_ids: &[&str]) -> Result<Value, ApiError> {
        self.call(
            "POST",
            &format!("/v1/webhooks/{name}/replay"),
            Some(json!({ "event_ids": event_ids })),
        )
        .await
    }
    pub async fn lift_ban(&self, room: &str, identity: &str) -> Result<Value, ApiError> {
        self.call("DELETE", &format!("/v1/rooms/{room}/bans/{identity}"), None)
            .await
    }
}
