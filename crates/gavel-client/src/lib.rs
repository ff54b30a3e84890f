//! # gavel-client
//!
//! - [`AccessToken`]: mint the JWTs a backend hands to its users.
//! - [`ApiClient`]: the HTTP server API (`/v1/...`).
//! - [`RtcClient`]: a participant's WebSocket session, with a live [`RoomState`] kept up to date
//!   from events.

mod api;
mod rtc;
mod state;
mod token;

pub use api::{ApiClient, ApiError};
pub use rtc::{Message, RtcClient};
pub use state::RoomState;
pub use token::AccessToken;

pub use gavel_core as core;
