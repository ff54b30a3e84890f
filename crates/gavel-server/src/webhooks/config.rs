//! `[webhooks]` in the configuration file: the endpoints events are delivered to, and the
//! outbox's bounds (docs/webhooks.md).

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What a webhook reports. The names are LiveKit's where LiveKit has the event
/// (`room_started`, `room_finished`, `participant_joined`, `participant_left`,
/// `track_published`, `track_unpublished`); the others are Gavel's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    RoomStarted,
    RoomFinished,
    ParticipantJoined,
    ParticipantLeft,
    TrackPublished,
    TrackUnpublished,
    TrackMuted,
    /// A host action carried out (its audit entry). Refused actions are not webhook events.
    HostAction,
    /// A hand raised or lowered.
    HandChanged,
    /// Someone went on or off the stage.
    StageChanged,
    /// Someone started waiting in the waiting room.
    WaiterAdded,
    /// People stopped waiting: admitted, denied, timed out or gone.
    WaitersRemoved,
    /// Breakout rooms opened from a room.
    BreakoutsOpened,
    /// A room's breakout rooms closed: everyone is being brought back.
    BreakoutsClosed,
    /// Sent on request (`POST /v1/webhooks/{name}/test`), to check an endpoint.
    Test,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::RoomStarted,
        Kind::RoomFinished,
        Kind::ParticipantJoined,
        Kind::ParticipantLeft,
        Kind::TrackPublished,
        Kind::TrackUnpublished,
        Kind::TrackMuted,
        Kind::HostAction,
        Kind::HandChanged,
        Kind::StageChanged,
        Kind::WaiterAdded,
        Kind::WaitersRemoved,
        Kind::BreakoutsOpened,
        Kind::BreakoutsClosed,
        Kind::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::RoomStarted => "room_started",
            Kind::RoomFinished => "room_finished",
            Kind::ParticipantJoined => "participant_joined",
            Kind::ParticipantLeft => "participant_left",
            Kind::TrackPublished => "track_published",
            Kind::TrackUnpublished => "track_unpublished",
            Kind::TrackMuted => "track_muted",
            Kind::HostAction => "host_action",
            Kind::HandChanged => "hand_changed",
            Kind::StageChanged => "stage_changed",
            Kind::WaiterAdded => "waiter_added",
            Kind::WaitersRemoved => "waiters_removed",
            Kind::BreakoutsOpened => "breakouts_opened",
            Kind::BreakoutsClosed => "breakouts_closed",
            Kind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One endpoint (`[[webhooks.endpoints]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// How the endpoint is named in the API, the CLI, metrics and the delivery log.
    pub name: String,
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// The events it receives; empty: all of them.
    #[serde(default)]
    pub events: Vec<Kind>,
    /// The API key whose secret signs its requests; default: the server's (the development
    /// key, else the first by name).
    #[serde(default)]
    pub api_key: Option<String>,
}

impl EndpointConfig {
    pub fn wants(&self, kind: Kind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    pub endpoints: Vec<EndpointConfig>,
    /// How long an event is retried before it is recorded as dropped (its age bound).
    pub retry_for_seconds: u64,
    /// Events waiting per endpoint at most: past it, the oldest are recorded as dropped.
    pub max_pending: u64,
    /// How long one delivery may take before it counts as failed.
    pub timeout_ms: u64,
    /// Delivery log rows kept per endpoint (newest).
    pub log_rows: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            endpoints: Vec::new(),
            retry_for_seconds: 24 * 3600,
            max_pending: 100_000,
            timeout_ms: 10_000,
            log_rows: 1_000,
        }
    }
}

impl WebhookConfig {
    /// Checks names, URLs and keys; `keys` are the server's API keys.
    pub fn validate(&self, keys: &HashMap<String, String>) -> Result<(), String> {
        let bad = |msg: String| Err(format!("invalid configuration: webhooks: {msg}"));
        let mut names = std::collections::HashSet::new();
        for e in &self.endpoints {
            if let Err(msg) = check_name(&e.name) {
                return bad(msg);
            }
            if !names.insert(&e.name) {
                return bad(format!("endpoint '{}' is named twice", e.name));
            }
            if let Err(msg) = check_url(&e.url) {
                return bad(format!("endpoint '{}': {msg}", e.name));
            }
            if let Some(k) = &e.api_key {
                if !keys.contains_key(k) {
                    return bad(format!(
                        "endpoint '{}' is signed with API key '{k}', which is not configured",
                        e.name
                    ));
                }
            }
        }
        if self.max_pending == 0 || self.timeout_ms == 0 || self.retry_for_seconds == 0 {
            return bad("retry_for_seconds, max_pending and timeout_ms must be above 0".into());
        }
        Ok(())
    }
}

/// Endpoint names: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "endpoint name '{name}' must be 1 to 64 of a-z, 0-9, '-' and '_'"
        )),
    }
}

/// An endpoint URL: absolute `http` or `https`, at most 2,048 bytes.
pub fn check_url(url: &str) -> Result<(), String> {
    if url.len() > 2048 {
        return Err("url is longer than 2048 bytes".into());
    }
    let parsed: Result<hyper::Uri, _> = url.parse();
    match parsed {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => Ok(()),
        _ => Err(format!("url '{url}' is not an absolute http or https URL")),
    }
}
