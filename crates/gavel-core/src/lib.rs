//! # gavel-core
//!
//! The room model of Gavel as a plain, deterministic state machine: no async runtime, no
//! sockets, no clock. Commands and the current time go in ([`Room::join`], [`Room::handle`],
//! [`Room::handle_timeout`]); events and effects come out ([`Room::poll_output`]).
//!
//! The wire types of the native protocol live here too ([`Command`], [`Event`], [`Reply`],
//! [`Error`]), so the server and the client SDK share one definition.

pub mod command;
pub mod error;
pub mod event;
pub mod grant;
pub mod ids;
pub mod participant;
pub mod permissions;
pub mod roles;
mod room;
pub mod settings;
pub mod speaker;

/// Milliseconds since the Unix epoch, supplied by the shell.
pub type Millis = u64;

pub use command::{Actor, BatchEntry, Command, MovingParticipant, Reply, TargetResult};
pub use error::{Error, ErrorCode, Result};
pub use event::{Audience, Counts, Event, LeaveReason, Output, RequestOutcome};
pub use grant::{Claims, VideoGrant};
pub use participant::{ParticipantInfo, TrackInfo};
pub use permissions::{
    Capabilities, Capability, HostControl, Permissions, PermissionsPatch, Source,
};
pub use roles::Roles;
pub use room::{JoinRequest, PendingRequest, Room, EVERY_IDENTITY};
pub use settings::{DuplicateIdentity, RemoteUnmute, RoomSettings};
