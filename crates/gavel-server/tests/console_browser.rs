//! The web console end to end in Debian's Chromium (tests/browser/, playwright-core): join,
//! mute and the "muted by" notice, ask-to-unmute accepted and rejected, mute everyone except me,
//! pin seen by everyone, kick with a ban and the failed rejoin, end session, moves, replaced
//! tabs, real microphone levels driving the active speaker, a 1,000-participant room, and real
//! media through the server (audio energy and moving video at the receiver; a host mute silences
//! a client that keeps sending), and LiveKit's JavaScript SDK joining beside console
//! participants (`livekit.test.js`); then the JavaScript SDK's tests under Node (`sdks/js/test/`).
//! Each file runs against the `gavel` binary inside a private
//! network namespace (Chromium needs a non-loopback interface for WebRTC).

mod common;
use common::*;

/// The console's files, then the JavaScript SDK (sdks/js) under Node — seed 003's flows
/// through its RealtimeKit-shaped `Meeting`, and the rest of what it covers — one after the
/// other (one test, so they never compete with Chromium for the two cores).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium_and_the_javascript_sdk_under_node() {
    external::node_tests("tests/browser").await;
    external::node_tests("sdks/js/test").await;
}
