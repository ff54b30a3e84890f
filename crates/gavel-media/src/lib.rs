//! # gavel-media
//!
//! The media plane of Gavel as a sans-IO engine on [str0m]: one [`MediaEngine`] per room holds
//! every participant's WebRTC session (one str0m `Rtc` each) and forwards media between them —
//! only what the room model allows. No sockets, no clock, no runtime: datagrams and time go in,
//! datagrams and events come out, exactly like str0m's own `Rtc` and Gavel's `Room`.
//!
//! ```no_run
//! use gavel_media::{EngineConfig, EngineOutput, MediaEngine};
//! use std::time::Instant;
//! # fn recv() -> (std::net::SocketAddr, std::net::SocketAddr, Vec<u8>) { unimplemented!() }
//! # fn send(_: &[u8], _: std::net::SocketAddr) {}
//! # fn rules() -> gavel_core::MediaRules { Default::default() }
//! let mut engine = MediaEngine::new(EngineConfig::default());
//! // The room's decision: re-read after every command that changed it.
//! engine.set_rules(Instant::now(), rules());
//! // A client's offer (over the signalling WebSocket) gets an answer.
//! let answer = engine.accept_offer(Instant::now(), "PA_1", "v=0 …");
//! loop {
//!     let (source, destination, datagram) = recv(); // or wake at engine.poll_timeout()
//!     let now = Instant::now();
//!     engine.handle_receive(now, str0m::net::Protocol::Udp, source, destination, &datagram);
//!     engine.handle_timeout(now);
//!     while let Some(out) = engine.poll_output() {
//!         match out {
//!             EngineOutput::Transmit(t) => send(&t.contents, t.destination),
//!             EngineOutput::Event(e) => { /* levels, slot maps, sessions up and down */ }
//!         }
//!     }
//! }
//! ```
//!
//! Modules: `engine` (sessions, forwarding, slot assignment), `session` (one participant's
//! `Rtc`, its published tracks and receive slots), `offer` (what an offer publishes and
//! receives, read before anything changes), `rewrite` (a receive slot as one continuous
//! outgoing RTP stream: sequence numbers, RTP time and VP8 fields across source switches),
//! `demux` (which session a datagram belongs to), `stats` (counters for metrics).

mod demux;
mod engine;
pub mod offer;
mod rewrite;
mod session;
mod stats;

pub use demux::{is_handshake, stun_ufrag};
pub use engine::{
    EngineConfig, EngineOutput, MediaEngine, MediaError, MediaEvent, SlotInfo, MAX_DATA_BYTES,
};
pub use offer::Kind;
pub use session::Session;
pub use stats::{DropReason, Stats};
pub use str0m;
