//! The media scenario against Janus's VideoRoom (`--scenario media --target janus`, `--url`
//! Janus's WebSocket, `--server-pid` Janus's process): the same audio room as `media.rs`, so
//! the two compare key by key.
//!
//! P publishers each join the room as a VideoRoom publisher and `publish` one send-only Opus
//! track (str0m's offer, with the RFC 6464 audio-level extension; Janus answers) and send the
//! same tagged 80-byte frame every 20 ms with a steady level. S subscribers each join as one
//! multistream subscriber of all P feeds: Janus offers, the subscriber answers with `start`.
//! Subscribers are sinks (`sink.rs`, in its answering mode): the first `--verifying` decrypt
//! every frame and read its tag (one-way latency, frames sent after the mute), the others only
//! count RTP datagrams by SSRC, as in `media.rs`; the mute target's SSRC comes from Janus's
//! offer and its `streams` list (mid → feed).
//!
//! Phases, each bounded by `--timeout`, as in `media.rs`:
//! 1. every participant opens a Janus session and attaches VideoRoom (`--concurrency` at a
//!    time); publishers also join, without media. Janus's RSS before and after.
//! 2. publishers publish and talk; once Janus reports each one's audio arriving (a feed cannot
//!    be subscribed to before), subscribers join and start. Join-to-first-audio is per
//!    subscriber, from its `join` (which makes Janus offer) to its first RTP packet.
//! 3. Janus's RSS again (memory per media session), then the measured interval: Janus's CPU
//!    from /proc over packets forwarded.
//! 4. an admin session mutes publisher 0's stream with VideoRoom `moderate` while it keeps
//!    sending: time from the request to that publisher's last packet at each subscriber.
//!
//! What differs from Gavel's run, and why:
//! - Janus relays RTP as it comes (it rewrites headers and re-encrypts, but never depacketizes
//!   or reassembles frames); Gavel's SFU handles frames.
//! - Janus has no forwarded-packets counter: `frames_forwarded` is what the subscribers
//!   received over the interval (`forwarded_counted_as`), so `delivery_ratio` is 1 by
//!   construction and a loss shows only as `forward_ratio` below 1 (Janus or the generator,
//!   this run cannot tell which). There are no `server_datagrams_*` or `server_dropped` keys.
//! - The checking subscribers are str0m sessions that answer Janus's offer and decrypt, not
//!   `gavel_client::media::MediaPeer`s (those only speak Gavel's signalling); both read the
//!   same tags.
//! - Subscribers' "WebSocket join" is opening a Janus session and attaching the plugin (a Janus
//!   subscriber joins the room only when it asks for media).

use crate::janus::{Handle, ROOM_SECRET};
use crate::media::{
    bounded, bounded_each, room_args, talk, tally_tagged, Counted, Firsts, Publisher, Shared,
    Tally, Voice, SETTLE, TARGET,
};
use crate::media_report;
use crate::report::{self, Report};
use crate::sink::{Recorder, Sink};
use crate::talker::{Offering, Talker};
use crate::Args;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A participant with its Janus session open (and, for a publisher, joined without media).
struct Joined {
    handle: Handle,
    /// A publisher's VideoRoom id (its feed).
    id: Option<u64>,
    ms: f64,
}

/// What a subscriber keeps: its session open (its join is timed from its `join`).
struct Kept {
    /// Only held: the session lives as long as the sink.
    _sink: Sink,
    _session: SessionTask,
    /// Whether Janus's offer named the mute target's stream (and its SSRC).
    watches_target: bool,
}

/// A Janus session's reader; ends the session (closes its WebSocket) when dropped.
struct SessionTask(JoinHandle<()>);

impl Drop for SessionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn run(args: &Args) -> Result<(), String> {
    let (p, s, pid) = room_args(args, "Janus's")?;
    let timeout = Duration::from_secs(args.timeout);
    let url = args.url.replacen("http", "ws", 1);
    let room = u64::from(std::process::id()) * 1000 + 2;
    let shared = Arc::new(Shared::new());
    let mut admin = Handle::open(&url).await?;
    // Janus's defaults are Opus and the audio-level extension; said anyway, since the
    // comparison depends on both. Joins are not broadcast, as in `janus.rs`.
    admin
        .videoroom(
            json!({"request": "create", "room": room, "publishers": p + 10,
            "audiocodec": "opus", "audiolevel_ext": true, "notify_joining": false,
            "secret": ROOM_SECRET}),
        )
        .await?;

    // Phase 1: sessions, and publishers joined without media.
    let rss_before = report::rss_kib(pid).ok_or("cannot read Janus's RSS")?;
    let ws_started = Instant::now();
    let joined = bounded(p + s, args.concurrency, timeout, "join", |i| {
        let url = url.clone();
        async move {
            let t = Instant::now();
            let mut handle = Handle::open(&url).await.map_err(|e| format!("{i}: {e}"))?;
            let mut id = None;
            if i < p {
                let data = handle
                    .videoroom(
                        json!({"request": "join", "ptype": "publisher", "room": room,
                        "display": format!("pub{i}")}),
                    )
                    .await
                    .map_err(|e| format!("publisher {i}: {e}"))?;
                id = Some(data["id"].as_u64().ok_or("join: no publisher id")?);
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            Ok(Joined { handle, id, ms })
        }
    })
    .await?;
    let ws_join = Report::from_millis("ws-join", joined.iter().map(|j| j.ms).collect());
    let ws_seconds = ws_started.elapsed().as_secs_f64();
    let feeds: Vec<u64> = joined[..p].iter().filter_map(|j| j.id).collect();
    // Each job takes its participant's session.
    let sessions: Vec<Mutex<Option<Handle>>> = joined
        .into_iter()
        .map(|j| Mutex::new(Some(j.handle)))
        .collect();
    let take = |i: usize| sessions[i].lock().expect("sessions").take();
    tokio::time::sleep(SETTLE).await;
    let rss_ws = report::rss_kib(pid).ok_or("cannot read Janus's RSS")?;

    // Phase 2: publishers publish and talk, then subscribers join and start.
    let ip = args.media_ip;
    let talkers = bounded(p, args.concurrency, timeout, "publisher media", |i| {
        let handle = take(i);
        async move {
            let mut handle = handle.ok_or("no session")?;
            let offering = Offering::new(ip).await?;
            let (_, jsep) = handle
                .videoroom_jsep(
                    json!({"request": "publish", "audiocodec": "opus"}),
                    Some(json!({"type": "offer", "sdp": offering.sdp, "trickle": false})),
                )
                .await
                .map_err(|e| format!("publisher {i}: {e}"))?;
            let answer = sdp_of(jsep, "answer").map_err(|e| format!("publisher {i}: {e}"))?;
            let talker = offering
                .answered(&answer)
                .map_err(|e| format!("publisher {i}: {e}"))?;
            if !talker.connected(timeout).await {
                return Err(format!("publisher {i}: media never connected"));
            }
            Ok((Arc::new(talker), handle))
        }
    })
    .await?;
    let target_mid = talkers[usize::from(TARGET)].0.mid.clone();
    let (publishers, publisher_sessions): (Vec<Publisher>, Vec<Handle>) = talkers
        .into_iter()
        .enumerate()
        .map(|(i, (talker, handle))| (talk(i as u16, talker, shared.epoch), handle))
        .unzip();
    // A feed can be subscribed to once Janus has set up its media (before that, a subscriber's
    // join fails with "No such feed"): wait until Janus says it receives each publisher's audio.
    let publisher_sessions: Vec<Mutex<Option<Handle>>> = publisher_sessions
        .into_iter()
        .map(|h| Mutex::new(Some(h)))
        .collect();
    let _publisher_sessions = bounded(p, args.concurrency, timeout, "publisher audio", |i| {
        let handle = publisher_sessions[i].lock().expect("sessions").take();
        async move {
            let mut handle = handle.ok_or("no session")?;
            handle
                .wait_for(timeout, |v| v["janus"] == "media" && v["receiving"] == true)
                .await
                .map_err(|e| format!("publisher {i}: {e}"))?;
            Ok(SessionTask(handle.keep_open()))
        }
    })
    .await?;
    let target_feed = feeds[usize::from(TARGET)];
    let verifying = args.verifying.min(s);
    let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
    let media_started = Instant::now();
    let attempts = bounded_each(s, args.concurrency, timeout, "subscriber media", |i| {
        let (handle, shared, streams) = (take(p + i), shared.clone(), streams.clone());
        async move {
            let mut handle = handle.ok_or("no session")?;
            let t = Instant::now();
            let (data, jsep) = handle
                .videoroom_jsep(
                    json!({"request": "join", "ptype": "subscriber", "room": room,
                        "streams": streams}),
                    None,
                )
                .await
                .map_err(|e| format!("subscriber {i}: {e}"))?;
            let offer = sdp_of(jsep, "offer").map_err(|e| format!("subscriber {i}: {e}"))?;
            let tally = Arc::new(Mutex::new(Tally::default()));
            let (firsts, arrivals) = Firsts::new();
            let (counted, watch) = Counted::new(tally.clone(), shared, firsts);
            let answered = if i < verifying {
                let checked = Checked {
                    tally: counted.tally,
                    shared: counted.shared,
                    firsts: counted.firsts,
                };
                Sink::answer(&offer, ip, true, checked).await
            } else {
                Sink::answer(&offer, ip, false, counted).await
            };
            let (sink, answer) = answered.map_err(|e| format!("subscriber {i}: {e}"))?;
            let target_ssrc =
                mid_of_feed(&data, target_feed).and_then(|mid| sink.ssrc_of_mid.get(&mid).copied());
            if let Some(ssrc) = target_ssrc {
                watch.store(u64::from(ssrc), Ordering::Relaxed);
            }
            handle
                .videoroom_jsep(
                    json!({"request": "start"}),
                    Some(json!({"type": "answer", "sdp": answer, "trickle": false})),
                )
                .await
                .map_err(|e| format!("subscriber {i}: start: {e}"))?;
            let answered = Instant::now();
            let session = SessionTask(handle.keep_open());
            let kept = Kept {
                _sink: sink,
                _session: session,
                watches_target: target_ssrc.is_some(),
            };
            // The join slot is held until audio arrives, as in `media.rs`.
            arrivals.wait(i, t, answered, tally, kept).await
        }
    })
    .await?;
    let media_seconds = media_started.elapsed().as_secs_f64();
    let (subscribers, failures) = media_report::subscribed(attempts)?;
    let s = subscribers.len();
    let mut join = media_report::join_report(
        &subscribers,
        &failures,
        p,
        media_seconds,
        &ws_join,
        ws_seconds,
    );
    join.set("target", json!("janus"));
    println!("{}", join.to_json());

    // Phase 3: memory, then the measured interval.
    tokio::time::sleep(SETTLE).await;
    let rss_media = report::rss_kib(pid).ok_or("cannot read Janus's RSS")?;
    let mut memory = media_report::memory_report(s, p, rss_before, rss_ws, rss_media);
    memory["target"] = json!("janus");
    println!("{memory}");
    let before = media_report::counters(pid, "Janus's", &publishers, &subscribers)?;
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.interval)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let after = media_report::counters(pid, "Janus's", &publishers, &subscribers)?;
    // No counter in Janus: what it forwarded is what the subscribers received.
    let (mut forward, saturated) =
        media_report::interval_report(&before, &after, None, &subscribers, p, s);
    forward.set("target", json!("janus"));
    forward.extra("verifying_subscribers", verifying as f64);
    println!("{}", forward.to_json());

    // Phase 4: the admin mutes publisher 0's stream; its client keeps sending.
    let call = moderate(&mut admin, room, target_feed, &target_mid);
    let m = media_report::mute(&shared, &publishers, call).await?;
    // Time from the request to the target's last packet at each subscriber.
    let mut mute = media_report::mute_report(&m, &publishers, &subscribers, verifying);
    mute.extra(
        "sinks_without_target_slot",
        subscribers
            .iter()
            .filter(|x| !x.kept.watches_target)
            .count() as f64,
    );
    mute.set("target", json!("janus"));
    println!("{}", mute.to_json());

    for x in publishers {
        let _ = tokio::time::timeout(Duration::from_secs(5), x.task).await;
    }
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        admin.videoroom(json!({"request": "destroy", "room": room, "secret": ROOM_SECRET})),
    )
    .await;
    if saturated {
        eprintln!("gavel-bench: media (janus): saturated at S = {s} (see `saturation`)");
    }
    Ok(())
}

/// The admin's request muting the target's stream (its feed's `mid`).
async fn moderate(admin: &mut Handle, room: u64, feed: u64, mid: &str) -> Result<(), String> {
    admin
        .videoroom(json!({"request": "moderate", "room": room, "id": feed,
            "mid": mid, "mute": true, "secret": ROOM_SECRET}))
        .await
        .map(|_| ())
        .map_err(|e| format!("moderate: {e}"))
}

/// The SDP of a JSEP of type `kind` ("offer" or "answer").
fn sdp_of(jsep: Option<Value>, kind: &str) -> Result<String, String> {
    let jsep = jsep.ok_or_else(|| format!("Janus sent no {kind}"))?;
    if jsep["type"] != kind {
        return Err(format!("expected an {kind}, Janus sent {}", jsep["type"]));
    }
    jsep["sdp"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the {kind} has no sdp"))
}

/// The mid on which a subscriber's `attached` answer carries `feed`'s stream.
fn mid_of_feed(attached: &Value, feed: u64) -> Option<String> {
    attached["streams"]
        .as_array()?
        .iter()
        .find(|x| x["feed_id"].as_u64() == Some(feed))?["mid"]
        .as_str()
        .map(str::to_string)
}

/// A checking subscriber's reports: every frame by its tag, as `media.rs`'s verifying
/// subscribers tally theirs.
struct Checked {
    tally: Arc<Mutex<Tally>>,
    shared: Arc<Shared>,
    firsts: Firsts,
}

impl Recorder for Checked {
    fn connected(&mut self, at: Instant) {
        self.firsts.connected(at);
    }
    /// Not called: this sink's RTP goes through str0m and arrives as frames.
    fn rtp(&mut self, _at: Instant, _ssrc: u32) {}
    fn ended(&mut self, why: String) {
        self.tally.lock().expect("tally").ended = Some(why);
    }
    fn frame(&mut self, at: Instant, _mid: &str, data: &[u8]) {
        tally_tagged(&self.tally, &self.shared, &mut self.firsts, at, data);
    }
}

impl Voice for Talker {
    fn speak(&self, frame: Vec<u8>, level: i8) -> impl Future<Output = bool> + Send {
        self.send(frame, level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_is_found_on_its_mid_in_the_attached_answer() {
        let attached = json!({"videoroom": "attached", "streams": [
            {"type": "audio", "mid": "0", "feed_id": 11, "feed_mid": "a0"},
            {"type": "audio", "mid": "1", "feed_id": 22, "feed_mid": "a0"}]});
        assert_eq!(mid_of_feed(&attached, 22).as_deref(), Some("1"));
        assert_eq!(mid_of_feed(&attached, 33), None);
    }

    #[test]
    fn only_a_jsep_of_the_expected_type_gives_its_sdp() {
        let offer = json!({"type": "offer", "sdp": "v=0"});
        assert_eq!(sdp_of(Some(offer.clone()), "offer").as_deref(), Ok("v=0"));
        assert!(sdp_of(Some(offer), "answer").is_err());
        assert!(sdp_of(None, "offer").is_err());
    }
}
