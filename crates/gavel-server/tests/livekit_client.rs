//! LiveKit's client SDK joins Gavel unchanged: Python's `livekit` (the realtime SDK over
//! LiveKit's native WebRTC library, in the project's `.venv`) runs tests/python/livekit_client.py
//! against the real `gavel` binary — connect through `/rtc` (after `/rtc/v1` answers 404), the
//! subscriber connection the server offers, a native aiortc publisher's tone decoded by the
//! SDK, that participant made the active speaker by the server's levels, RoomService
//! `MutePublishedTrack` seen as `track_muted` and silencing it, a second SDK client publishing a generated tone that the first decodes (and a RoomService
//! mute of it reaching the publisher's own SDK), native participants joining and leaving, and
//! RoomService `RemoveParticipant` reported by the SDK
//! as PARTICIPANT_REMOVED.
//!
//! libwebrtc gathers no ICE candidates on loopback alone, so the server and the script run in
//! a private network namespace (`common::external::python_in_namespace`).

mod common;

use std::time::Duration;

#[test]
fn livekits_python_sdk_joins_hears_a_native_publisher_and_is_muted_and_removed() {
    common::external::python_in_namespace("livekit_client.py", Duration::from_secs(70));
}
