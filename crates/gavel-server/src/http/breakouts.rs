//! Breakout rooms' endpoints (docs/protocol.md, "Breakout rooms"): open, close, broadcast.
//! Each is one command in the main room (needing `manage_participants`); opening runs through
//! the service layer, which creates the rooms and moves people in before answering.

use super::{command, ApiError, Body, Caller, Json, St};
use axum::extract::Path;
use gavel_core::command::BreakoutRoom;
use gavel_core::Command;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    #[serde(default)]
    count: Option<u32>,
    #[serde(default)]
    rooms: Vec<BreakoutRoom>,
    #[serde(default)]
    duration_seconds: Option<u32>,
    #[serde(default)]
    countdown_seconds: Option<u32>,
}

/// `POST /v1/rooms/{room}/breakouts`: `{"count": n}` (round-robin) or `{"rooms": [{"name",
/// "identities"}]}`, with an optional time limit → who went where, and how each move went.
pub async fn open(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<OpenBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::OpenBreakouts {
        count: b.count,
        rooms: b.rooms,
        duration_seconds: b.duration_seconds,
        countdown_seconds: b.countdown_seconds,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    #[serde(default)]
    countdown_seconds: Option<u32>,
}

/// `POST /v1/rooms/{room}/breakouts/close`: everyone is warned, then brought back.
pub async fn close(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<CloseBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::CloseBreakouts {
        countdown_seconds: b.countdown_seconds,
    };
    command(&state, &caller, &room, cmd).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BroadcastBody {
    message: String,
}

/// `POST /v1/rooms/{room}/breakouts/broadcast`: a message to everyone in every breakout room.
pub async fn broadcast(
    state: St,
    caller: Caller,
    Path(room): Path<String>,
    Body(b): Body<BroadcastBody>,
) -> Result<Json, ApiError> {
    let cmd = Command::BroadcastToBreakouts { message: b.message };
    command(&state, &caller, &room, cmd).await
}
