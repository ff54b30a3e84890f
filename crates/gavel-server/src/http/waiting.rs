//! The waiting room's endpoints (docs/protocol.md, "The waiting room"): who waits, admit,
//! deny, and turning the waiting room on or off. Each is one room command, needing `admit`.

use super::{command, ApiError, Body, Caller, Json, St};
use axum::extract::Path;
use gavel_core::Command;
use serde::Deserialize;

/// `GET /v1/rooms/{room}/waiting`: who waits, oldest first.
pub async fn list(state: St, caller: Caller, Path(room): Path<String>) -> Result<Json, ApiError> {
    command(&state, &caller, &room, Command::ListWaiting).await
}

/// Whom an admit or a denial is for: `identities`, or everyone waiting with `all`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmitBody {
    #[serde(default)]
    identities: Vec<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /v1/rooms/{room}/waiting/admit`: per-identity results.
pub async fn admit(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<AdmitBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::Admit {
        identities: b.identities,
        all: b.all,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    #[serde(default)]
    identities: Vec<String>,
    #[serde(default)]
    all: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    ban_seconds: Option<u64>,
}

/// `POST /v1/rooms/{room}/waiting/deny`: the waiters are told `message`; with `ban_seconds`
/// they are banned too.
pub async fn deny(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<DenyBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::Deny {
        identities: b.identities,
        all: b.all,
        message: b.message,
        ban_seconds: b.ban_seconds,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchBody {
    enabled: bool,
}

/// `POST /v1/rooms/{room}/waiting-room {"enabled": …}`: turning it off lets everyone in.
pub async fn switch(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<SwitchBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::SetWaitingRoom { enabled: b.enabled };
    command(&state, &caller, &room, cmd).await
}
