//! The web console end to end in Debian's Chromium (tests/browser/, playwright-core): join,
//! mute and the "muted by" notice, ask-to-unmute accepted and rejected, mute everyone except me,
//! pin seen by everyone, kick with a ban and the failed rejoin, end session, moves, replaced
//! tabs, real microphone levels driving the active speaker, and a 1,000-participant room.

mod common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_chromium() {
    let ts = TestServer::start().await;
    external::node_tests("tests/browser", &ts.http).await;
    ts.stop().await;
}
