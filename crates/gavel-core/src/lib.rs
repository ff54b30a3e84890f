//! # gavel-core
//!
//! The room model of Gavel as a plain, deterministic state machine: no async runtime, no
//! sockets, no clock. Commands and the current time go in ([`Room::join`], [`Room::handle`],
//! [`Room::handle_timeout`]); events and effects come out ([`Room::poll_output`]).
//!
//! The wire types of the native protocol live here too ([`Command`], [`Event`], [`Reply`],
//! [`Error`]), so the server and the client SDK share one definition.
//!
//! # Driving a room
//!
//! The shell owns the sockets and the clock. After every input it drains
//! [`Room::poll_output`], then sleeps until the next input or [`Room::poll_timeout`], whichever
//! comes first:
//!
//! ```
//! use gavel_core::roles::{HOST, PARTICIPANT};
//! use gavel_core::{Actor, Command, JoinRequest, Output, RequestOutcome, Roles, Room, Source};
//! use std::{collections::BTreeMap, sync::Arc};
//!
//! let roles = Arc::new(Roles::default());
//! let mut room = Room::new("standup", Default::default(), roles.clone(), 42);
//! let mut now = 1_700_000_000_000; // ms, from the shell's clock
//!
//! // Sessions the shell admits once it has verified their tokens.
//! let request = |identity: &str, role: &str| JoinRequest {
//!     identity: identity.into(),
//!     name: identity.to_uppercase(),
//!     metadata: String::new(),
//!     attributes: BTreeMap::new(),
//!     role: role.into(),
//!     permissions: roles.get(role).unwrap().clone(),
//!     issued_at: Some(now),
//!     bypass_lock: false,
//!     bypass_waiting_room: false,
//! };
//! let host = room.join(now, request("ada", HOST))?;
//! room.join(now, request("bob", PARTICIPANT))?;
//!
//! // Every command goes through `handle`; its reply is for the sender alone.
//! let ask = Command::RequestMedia { identity: "bob".into(), source: Source::Microphone };
//! room.handle(now, &Actor::Participant { sid: host }, ask)?;
//!
//! loop {
//!     while let Some(output) = room.poll_output() {
//!         match output {
//!             Output::Event { to, event } => { /* send `event` to the sessions `to` includes */ }
//!             Output::Disconnect { sid, .. } => { /* close `sid` once its events are sent */ }
//!             Output::RequestResolved { outcome, .. } => {
//!                 assert_eq!(outcome, RequestOutcome::Expired) // bob never answered
//!             }
//!             _ => { /* bans, presets, audit, session history: make them durable */ }
//!         }
//!     }
//!     // A real shell also wakes up for the next command; here nothing else comes in.
//!     let Some(at) = room.poll_timeout() else { break };
//!     now = at;
//!     room.handle_timeout(now);
//! }
//! # Ok::<(), gavel_core::Error>(())
//! ```

pub mod command;
pub mod error;
pub mod event;
pub mod grant;
pub mod ids;
pub mod media_rules;
pub mod participant;
pub mod permissions;
pub mod roles;
mod room;
pub mod settings;
pub mod speaker;

/// Milliseconds since the Unix epoch, supplied by the shell.
pub type Millis = u64;

pub use command::{
    Actor, BatchEntry, Command, MediaTrack, MovingParticipant, OfferedTrack, Reply, TargetResult,
};
pub use error::{Error, ErrorCode, Result};
pub use event::{
    Audience, ConnectionQuality, Counts, DurableWrite, Event, LeaveReason, MediaEndReason,
    MediaSlot, Output, QualityUpdate, RequestOutcome,
};
pub use grant::{Claims, VideoGrant};
pub use media_rules::{Layer, MediaRules, ReceiverRule, TrackRule};
pub use participant::{ParticipantInfo, TrackInfo};
pub use permissions::{
    Capabilities, Capability, HostControl, Permissions, PermissionsPatch, Source,
};
pub use roles::Roles;
pub use room::MAX_SUBSCRIPTIONS;
pub use room::{Decision, JoinRequest, Pending, PendingRequest, Room, EVERY_IDENTITY};
pub use settings::{DuplicateIdentity, RemoteUnmute, RoomSettings};
