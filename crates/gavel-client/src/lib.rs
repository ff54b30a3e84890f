//! # gavel-client
//!
//! - [`AccessToken`]: mint the JWTs a backend hands to its users.
//! - [`ApiClient`]: the HTTP server API (`/v1/...`).
//! - [`RtcClient`]: a participant's WebSocket session, with a live [`RoomState`] kept up to date
//!   from events. It holds at most [`MESSAGE_BUFFER`] unread messages; an application that falls
//!   further behind has its session ended ([`LAGGED`]).
//! - `media::MediaPeer` (feature `media`): the participant's WebRTC media session.

mod api;
mod inbox;
#[cfg(feature = "media")]
pub mod media;
mod rtc;
mod seq;
mod state;
mod token;

pub use api::{ApiClient, ApiError};
pub use rtc::{Message, RtcClient, LAGGED, MESSAGE_BUFFER};
pub use seq::SeqBreak;
pub use state::RoomState;
pub use token::AccessToken;

pub use gavel_core as core;
