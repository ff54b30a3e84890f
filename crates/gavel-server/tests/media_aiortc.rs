//! The media plane end to end with a third-party WebRTC stack: Python's aiortc (in the project's
//! `.venv`) runs tests/python/media_aiortc.py — real Opus audio from one aiortc peer to another
//! through the real `gavel` binary, a host mute that drops the packets of a client that keeps
//! sending, and the participant's own unmute.
//!
//! aiortc gathers no ICE candidates on loopback alone, so the server and the script run in a
//! private network namespace (`common::external::python_in_namespace`). The server binds the
//! wildcard address with no `[media] advertise`, so its candidates are the addresses it
//! discovers on the namespace's interfaces.

mod common;

use std::time::Duration;

#[test]
fn aiortc_peers_exchange_audio_and_a_host_mute_drops_the_packets() {
    common::external::python_in_namespace("media_aiortc.py", Duration::from_secs(70));
}
