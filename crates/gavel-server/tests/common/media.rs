//! Media helpers: str0m peers (gavel-client's `MediaPeer`) talking and listening.
#![allow(dead_code)]

use gavel_client::core::Source;
use gavel_client::media::{MediaPeer, PeerEvent};
use std::collections::HashMap;
use std::time::Duration;

/// Sends `n` audio frames from `from` (20 ms apart), each tagged with its number.
pub async fn talk(from: &MediaPeer, tag: &str, n: usize) {
    for i in 0..n {
        let mut frame = format!("{tag}#{i}").into_bytes();
        frame.resize(80, b' ');
        assert!(from.send(Source::Microphone, frame, Some(-12)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Frames `peer` received within `window`, counted by tag.
pub async fn heard(peer: &MediaPeer, window: Duration) -> HashMap<String, usize> {
    let mut got = HashMap::new();
    let deadline = tokio::time::Instant::now() + window;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match peer.next(left).await {
            Some(PeerEvent::Frame { data, .. }) => {
                let text = String::from_utf8_lossy(&data).trim().to_string();
                let tag = text.split('#').next().unwrap_or_default().to_string();
                *got.entry(tag).or_default() += 1;
            }
            Some(_) => {}
            None => return got,
        }
    }
}

/// How many of 25 frames `from` sends (tagged `tag`) `to` hears within 900 ms.
pub async fn frames_heard(from: &MediaPeer, to: &MediaPeer, tag: &str) -> usize {
    let (_, got) = tokio::join!(talk(from, tag, 25), heard(to, Duration::from_millis(900)));
    got.get(tag).copied().unwrap_or(0)
}
