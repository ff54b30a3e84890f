//! LiveKit's `RoomService` over Twirp: `POST /twirp/livekit.RoomService/<Method>`.
//!
//! Requests and responses are `livekit_protocol` types, in protobuf or JSON (`codec.rs`).
//! Handlers only translate: every call goes through the same registry and room-actor paths as
//! the native API, so clients get the same events.

mod auth;
mod codec;
mod data;
mod error;
pub(crate) mod mapping;
mod messages;
mod names;
mod participants;
mod rooms;
mod unpopulated;

pub use error::TwirpError;

use crate::http::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

pub fn router() -> Router<AppState> {
    Router::new().route("/twirp/livekit.RoomService/{method}", post(dispatch))
}

async fn dispatch(
    State(state): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match call(&state, &method, &headers, &body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn call(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, TwirpError> {
    let format = codec::Format::of(headers)?;
    let claims = auth::verify(state, headers)?;
    match method {
        "CreateRoom" => {
            let req = format.decode(body)?;
            format.encode(&rooms::create_room(state, &claims, req).await?)
        }
        "ListRooms" => {
            let req = format.decode(body)?;
            format.encode(&rooms::list_rooms(state, &claims, req).await?)
        }
        "DeleteRoom" => {
            let req = format.decode(body)?;
            format.encode(&rooms::delete_room(state, &claims, req).await?)
        }
        "ListParticipants" => {
            let req = format.decode(body)?;
            format.encode(&participants::list_participants(state, &claims, req).await?)
        }
        "GetParticipant" => {
            let req = format.decode(body)?;
            format.encode(&participants::get_participant(state, &claims, req).await?)
        }
        "RemoveParticipant" => {
            let req = format.decode(body)?;
            format.encode(&participants::remove_participant(state, &claims, req).await?)
        }
        "MoveParticipant" => {
            let req = format.decode(body)?;
            format.encode(&participants::move_participant(state, &claims, req).await?)
        }
        "MutePublishedTrack" => {
            let req = format.decode(body)?;
            format.encode(&participants::mute_published_track(state, &claims, req).await?)
        }
        "UpdateParticipant" => {
            let req = format.decode(body)?;
            format.encode(&participants::update_participant(state, &claims, req).await?)
        }
        "UpdateRoomMetadata" => {
            let req = format.decode(body)?;
            format.encode(&rooms::update_room_metadata(state, &claims, req).await?)
        }
        "SendData" => {
            let req = format.decode(body)?;
            format.encode(&data::send_data(state, &claims, req).await?)
        }
        other => Err(TwirpError::unimplemented(format!(
            "livekit.RoomService/{other} is not supported by this server"
        ))),
    }
}
