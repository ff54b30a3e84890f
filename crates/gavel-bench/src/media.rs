//! The media plane under load (`--scenario media`): an audio room.
//!
//! P publishers (`--publishers`, default 10) each send one 80-byte frame (an Opus packet's size)
//! every 20 ms with an RFC 6464 audio level; S subscribers (`-n`) only receive, each offering P
//! audio receive slots, so the server forwards P × S × 50 packets/s. Every peer is a str0m
//! session in this process talking to the server's media port (loopback by default).
//!
//! Two kinds of subscriber. The first `--verifying` (default 20) are full
//! `gavel_client::media::MediaPeer`s: they decrypt every frame and read its tag, so they check
//! *what* arrives (one-way latency, which frames of a muted publisher got through). The rest are
//! lean sinks (`sink.rs`): a real WebRTC session whose RTP datagrams are only counted by SSRC,
//! because a full peer costs the generator more CPU per packet than the server spends
//! forwarding it, and both share the machine.
//!
//! Phases, each bounded by `--timeout`:
//! 1. everyone joins over WebSocket, no media yet (`--concurrency` at a time). The server's RSS
//!    before and after, so the media sessions' memory is measured apart from the WebSockets'.
//! 2. the publishers open media and talk; then the subscribers open media, `--concurrency` at
//!    a time. Join-to-first-audio is per subscriber, from its `media_offer` to its first frame
//!    (the WebSocket join before it is reported apart).
//! 3. once every subscriber receives: the server's RSS again (memory per media session), then
//!    a measured interval (`--interval` seconds): frames sent and received here, the server's
//!    `gavel_media_frames_forwarded_total`, and both processes' CPU time from /proc, which give
//!    the server's CPU per forwarded packet (the generator shares the machine, so wall-clock
//!    throughput alone would mostly measure the generator).
//! 4. the host mutes publisher 0 through the HTTP API while its client keeps sending: the time
//!    from the call to that publisher's last frame at each subscriber, frames of it arriving
//!    later than [`GRACE`] after the call returned, and (verifying subscribers) frames delivered
//!    that were *sent* after the call returned — the server promises none.
//!
//! Each frame carries its publisher, its sequence number and its send time; sender and receivers
//! share this process's clock, so one-way latency needs no synchronisation.
//!
//! The interval is marked `generator_saturated` when the generator, not the server, sets the
//! pace (publishers fell behind 50 frames/s, subscribers processed fewer frames than the server
//! forwarded, or the machine's cores were almost all busy), and `server_saturated` when the
//! server forwarded less than every frame to every subscriber; the script stops stepping S
//! after either.

use crate::report::{self, Report};
use crate::sink::{self, Sink};
use crate::Args;
use gavel_client::core::{Event, Source};
use gavel_client::media::{MediaPeer, PeerEvent};
use gavel_client::{AccessToken, ApiClient, Message, RtcClient};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Semaphore};

/// One Opus frame every 20 ms: 50 packets/s per publisher.
const FRAME_INTERVAL: Duration = Duration::from_millis(20);
const FRAMES_PER_SECOND: f64 = 50.0;
/// An Opus packet at ~32 kbit/s.
const FRAME_BYTES: usize = 80;
const MAGIC: [u8; 2] = *b"GB";
/// After everyone receives, before measuring: joins' control traffic (slot maps, counts,
/// active-speaker changes) dies down, and RSS settles.
const SETTLE: Duration = Duration::from_secs(2);
/// A frame forwarded just before the mute may still be on its way (loopback, the generator's
/// queues): arrivals this long after the call returned are not counted as late.
const GRACE: Duration = Duration::from_millis(100);
/// How long the muted publisher keeps sending, and the subscribers keep listening, after the
/// mute.
const MUTE_WATCH: Duration = Duration::from_secs(2);
/// One frame in this many is timed for one-way latency (keeps the per-frame cost flat).
const LATENCY_SAMPLE_EVERY: u32 = 8;
/// The publisher the host mutes.
const TARGET: u16 = 0;
/// A sink watches no SSRC yet.
const NO_SSRC: u64 = u64::MAX;
/// Saturation thresholds (see the module doc).
const MIN_SEND_RATIO: f64 = 0.95;
const MIN_DELIVERY_RATIO: f64 = 0.98;
const MAX_CPU_SHARE: f64 = 0.95;

/// A frame's tag: `[magic 2][publisher u16][seq u32][sent µs u64]` (little-endian), padded
/// with zeros to [`FRAME_BYTES`]. str0m's Opus path carries the payload unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag {
    publisher: u16,
    seq: u32,
    /// Microseconds since the run's epoch, when the publisher handed the frame to its peer.
    sent_us: u64,
}

impl Tag {
    fn encode(self) -> Vec<u8> {
        let mut f = Vec::with_capacity(FRAME_BYTES);
        f.extend_from_slice(&MAGIC);
        f.extend_from_slice(&self.publisher.to_le_bytes());
        f.extend_from_slice(&self.seq.to_le_bytes());
        f.extend_from_slice(&self.sent_us.to_le_bytes());
        f.resize(FRAME_BYTES, 0);
        f
    }

    fn decode(data: &[u8]) -> Option<Tag> {
        if data.len() < 16 || data[..2] != MAGIC {
            return None;
        }
        Some(Tag {
            publisher: u16::from_le_bytes(data[2..4].try_into().ok()?),
            seq: u32::from_le_bytes(data[4..8].try_into().ok()?),
            sent_us: u64::from_le_bytes(data[8..16].try_into().ok()?),
        })
    }
}

/// What the phases switch, read by every subscriber on each frame.
struct Shared {
    epoch: Instant,
    /// The measured interval is running: sample latencies.
    measuring: AtomicBool,
    /// The mute is under way: log each of the target's frames.
    muting: AtomicBool,
    /// WebSocket sessions the server closed (a slow consumer, a kick): must stay 0.
    ws_closed: AtomicUsize,
}

/// One subscriber's count, updated by its receiving task on every frame.
#[derive(Default)]
struct Tally {
    received: u64,
    /// The mute target's frames: the last arrival, and each one (with its sequence number when
    /// the subscriber decrypts) once the mute is under way.
    target_last: Option<Instant>,
    target_after: Vec<(Option<u32>, Instant)>,
    /// One-way latencies (µs), sampled during the measured interval (verifying subscribers).
    latencies: Vec<u32>,
    /// Why its media session ended, if it did (sinks).
    ended: Option<String>,
}

impl Tally {
    fn record(&mut self, at: Instant, target: bool, seq: Option<u32>, muting: bool) {
        self.received += 1;
        if target {
            self.target_last = Some(at);
            if muting {
                self.target_after.push((seq, at));
            }
        }
    }
}

/// A talking publisher.
struct Publisher {
    /// The next sequence number: frames sent so far. Taken *before* a frame is handed to the
    /// peer, so a frame numbered at or above the value read when the mute returned was sent
    /// after it.
    next_seq: Arc<AtomicU32>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

/// A subscriber's media session, kept alive here.
enum Peer {
    /// Only held, beside its listener's handle: the session lives as long as the subscriber.
    Verifying(#[allow(dead_code)] Arc<MediaPeer>),
    Counting {
        sink: Sink,
        /// The SSRC (of the server's stream) whose packets count as the mute target's.
        watch: Arc<AtomicU64>,
    },
}

struct Subscriber {
    peer: Peer,
    tally: Arc<Mutex<Tally>>,
    /// mid → publisher identity, from the room's `media_slots` events.
    slots: Arc<Mutex<HashMap<String, String>>>,
    /// From its `media_offer` to its first frame.
    join_ms: f64,
    /// The steps of that join, from the same start: the answer, ICE + DTLS up.
    answer_ms: f64,
    connected_ms: f64,
}

/// When a subscriber's peer first reported each step.
struct Firsts {
    connected: Option<oneshot::Sender<Instant>>,
    frame: Option<oneshot::Sender<Instant>>,
}

impl Firsts {
    fn connected(&mut self, at: Instant) {
        if let Some(f) = self.connected.take() {
            let _ = f.send(at);
        }
    }
    fn frame(&mut self, at: Instant) {
        if let Some(f) = self.frame.take() {
            let _ = f.send(at);
        }
    }
}

/// A sink's reports into its subscriber's tally.
struct Counted {
    tally: Arc<Mutex<Tally>>,
    shared: Arc<Shared>,
    firsts: Firsts,
    watch: Arc<AtomicU64>,
}

impl sink::Recorder for Counted {
    fn connected(&mut self, at: Instant) {
        self.firsts.connected(at);
    }
    fn rtp(&mut self, at: Instant, ssrc: u32) {
        self.firsts.frame(at);
        let target = u64::from(ssrc) == self.watch.load(Ordering::Relaxed);
        let muting = self.shared.muting.load(Ordering::Relaxed);
        self.tally
            .lock()
            .expect("tally")
            .record(at, target, None, muting);
    }
    fn ended(&mut self, why: String) {
        self.tally.lock().expect("tally").ended = Some(why);
    }
}

/// A participant's WebSocket session and what its `media_slots` say.
struct Joined {
    rtc: Arc<RtcClient>,
    slots: Arc<Mutex<HashMap<String, String>>>,
    ms: f64,
}

pub async fn run(args: &Args) -> Result<(), String> {
    let (p, s) = (args.publishers, args.n);
    if p == 0 || p > usize::from(u16::MAX) || s == 0 {
        return Err("the media scenario needs 1 ≤ --publishers ≤ 65535 and -n ≥ 1".into());
    }
    let pid = args
        .server_pid
        .ok_or("the media scenario needs --server-pid (it measures the server's CPU)")?;
    let timeout = Duration::from_secs(args.timeout);
    let room = args
        .room
        .clone()
        .unwrap_or_else(|| format!("media-{}", std::process::id()));
    let api = ApiClient::new(
        &args.url,
        &AccessToken::new(&args.key, &args.secret)
            .admin(None)
            .to_jwt(),
    );
    let ws = args.url.replacen("http", "ws", 1);
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        measuring: AtomicBool::new(false),
        muting: AtomicBool::new(false),
        ws_closed: AtomicUsize::new(0),
    });
    api.create_room(&room, json!({"max_participants": 0}))
        .await
        .map_err(|e| e.to_string())?;

    // Phase 1: WebSockets only.
    let rss_before = report::rss_kib(pid).ok_or("cannot read the server's RSS")?;
    let prefix = format!("m{}-", std::process::id());
    let identities: Vec<(String, &str)> = (0..p)
        .map(|i| (format!("{prefix}pub{i}"), "participant"))
        .chain((0..s).map(|i| (format!("{prefix}sub{i}"), "viewer")))
        .collect();
    let ws_started = Instant::now();
    let mut joined = bounded(identities.len(), args.concurrency, timeout, "join", |i| {
        let (identity, role) = identities[i].clone();
        let token = AccessToken::new(&args.key, &args.secret)
            .join(&room, &identity)
            .role(role)
            .ttl(3600)
            .to_jwt();
        let (ws, shared) = (ws.clone(), shared.clone());
        async move {
            let t = Instant::now();
            let rtc = RtcClient::connect(&ws, &token)
                .await
                .map_err(|e| format!("{identity}: {e}"))?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let rtc = Arc::new(rtc);
            let slots = Arc::default();
            drain(rtc.clone(), shared, Arc::clone(&slots));
            Ok(Joined { rtc, slots, ms })
        }
    })
    .await?;
    let ws_join = Report::from_millis("ws-join", joined.iter().map(|j| j.ms).collect());
    let ws_seconds = ws_started.elapsed().as_secs_f64();
    let sub_joined = joined.split_off(p);
    let pub_joined = joined;
    tokio::time::sleep(SETTLE).await;
    let rss_ws = report::rss_kib(pid).ok_or("cannot read the server's RSS")?;

    // Phase 2: publishers open media and talk, then subscribers open theirs.
    let ip = args.media_ip;
    let peers = bounded(p, args.concurrency, timeout, "publisher media", |i| {
        let rtc = pub_joined[i].rtc.clone();
        async move {
            let peer = MediaPeer::open(&rtc, ip, &[Source::Microphone], 0, 0)
                .await
                .map_err(|e| format!("publisher {i}: {e}"))?;
            if !peer.connected(timeout).await {
                return Err(format!("publisher {i}: media never connected"));
            }
            Ok(Arc::new(peer))
        }
    })
    .await?;
    let publishers: Vec<Publisher> = peers
        .into_iter()
        .enumerate()
        .map(|(i, peer)| talk(i as u16, peer, shared.epoch))
        .collect();
    let verifying = args.verifying.min(s);
    let media_started = Instant::now();
    let attempts = bounded_each(s, args.concurrency, timeout, "subscriber media", |i| {
        let (rtc, slots, shared) = (
            sub_joined[i].rtc.clone(),
            sub_joined[i].slots.clone(),
            shared.clone(),
        );
        async move {
            let t = Instant::now();
            let tally = Arc::new(Mutex::new(Tally::default()));
            let (connected_tx, connected_rx) = oneshot::channel();
            let (frame_tx, frame_rx) = oneshot::channel();
            let firsts = Firsts {
                connected: Some(connected_tx),
                frame: Some(frame_tx),
            };
            let peer = if i < verifying {
                let peer = MediaPeer::open(&rtc, ip, &[], p, 0)
                    .await
                    .map_err(|e| format!("subscriber {i}: {e}"))?;
                let peer = Arc::new(peer);
                tokio::spawn(listen(peer.clone(), tally.clone(), shared, firsts));
                Peer::Verifying(peer)
            } else {
                let watch = Arc::new(AtomicU64::new(NO_SSRC));
                let counted = Counted {
                    tally: tally.clone(),
                    shared,
                    firsts,
                    watch: watch.clone(),
                };
                let sink = Sink::open(&rtc, ip, p, counted)
                    .await
                    .map_err(|e| format!("subscriber {i}: {e}"))?;
                Peer::Counting { sink, watch }
            };
            let answered = Instant::now();
            // The join slot is held until audio arrives: `--concurrency` bounds joins in
            // progress, ICE and DTLS included.
            let first = frame_rx.await.map_err(|_| {
                let why = tally.lock().expect("tally").ended.take();
                format!("subscriber {i}: media ended before any audio ({why:?})")
            })?;
            let connected = connected_rx.await.unwrap_or(first);
            let ms = |at: Instant| at.duration_since(t).as_secs_f64() * 1000.0;
            Ok(Subscriber {
                peer,
                tally,
                slots,
                join_ms: ms(first),
                answer_ms: ms(answered),
                connected_ms: ms(connected),
            })
        }
    })
    .await?;
    let media_seconds = media_started.elapsed().as_secs_f64();
    // A join that fails is counted, not fatal: under load that is the result (the server
    // dropping new sessions' handshakes), and the rest of the room is still measured.
    let mut failures: Vec<String> = Vec::new();
    let subscribers: Vec<Subscriber> = attempts
        .into_iter()
        .filter_map(|r| r.map_err(|e| failures.push(e)).ok())
        .collect();
    if subscribers.is_empty() {
        return Err(format!(
            "no subscriber received audio; first failure: {}",
            failures.first().map_or("none", String::as_str)
        ));
    }
    let s = subscribers.len();
    let mut join = Report::from_millis(
        "media-join",
        subscribers.iter().map(|x| x.join_ms).collect(),
    );
    join.extra("publishers", p as f64);
    join.extra("subscribers", s as f64);
    join.extra("failed_joins", failures.len() as f64);
    if let Some(first) = failures.first() {
        join.set("first_failure", json!(first));
    }
    join.extra("media_joins_per_second", s as f64 / media_seconds.max(1e-9));
    for (name, step) in [
        (
            "answer",
            Report::from_millis("", subscribers.iter().map(|x| x.answer_ms).collect()),
        ),
        (
            "connected",
            Report::from_millis("", subscribers.iter().map(|x| x.connected_ms).collect()),
        ),
    ] {
        join.extra(&format!("{name}_p50_ms"), step.percentile(50.0));
        join.extra(&format!("{name}_p99_ms"), step.percentile(99.0));
    }
    join.extra("ws_join_p50_ms", ws_join.percentile(50.0));
    join.extra("ws_join_p99_ms", ws_join.percentile(99.0));
    join.extra("ws_joins_per_second", (p + s) as f64 / ws_seconds.max(1e-9));
    println!("{}", join.to_json());

    // Phase 3: memory, then the measured interval.
    tokio::time::sleep(SETTLE).await;
    let rss_media = report::rss_kib(pid).ok_or("cannot read the server's RSS")?;
    let sessions = (p + s) as f64;
    println!(
        "{}",
        json!({"scenario": "media-memory", "n": s, "publishers": p,
            "server_rss_kib_before": rss_before, "server_rss_kib_websockets": rss_ws,
            "server_rss_kib_media": rss_media,
            "kib_per_ws_participant": round(rss_ws.saturating_sub(rss_before) as f64 / sessions),
            "kib_per_media_session": round(rss_media.saturating_sub(rss_ws) as f64 / sessions)})
    );

    // Sinks learn which of the server's streams carries the mute target (their slot map and
    // the answer's SSRCs), before the interval, so each has its last frame when the mute comes.
    let target = format!("{prefix}pub{TARGET}");
    let mut unmapped = 0;
    for x in &subscribers {
        if let Peer::Counting { sink, watch } = &x.peer {
            let slots = x.slots.lock().expect("slots");
            let ssrc = slots
                .iter()
                .find(|(_, who)| **who == target)
                .and_then(|(mid, _)| sink.ssrc_of_mid.get(mid));
            match ssrc {
                Some(ssrc) => watch.store(u64::from(*ssrc), Ordering::Relaxed),
                None => unmapped += 1,
            }
        }
    }
    let before = snapshot(&api, pid, &publishers, &subscribers).await?;
    shared.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(args.interval)).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let after = snapshot(&api, pid, &publishers, &subscribers).await?;
    let (mut forward, saturated) = interval_report(&before, &after, &subscribers, p, s);
    forward.extra("verifying_subscribers", verifying as f64);
    println!("{}", forward.to_json());

    // Phase 4: the host mutes publisher 0; its client keeps sending.
    let muted_before = muted_drops(&api).await?;
    shared.muting.store(true, Ordering::Relaxed);
    let call = Instant::now();
    let call_seq = publishers[usize::from(TARGET)]
        .next_seq
        .load(Ordering::SeqCst);
    api.mute(&room, &target, "microphone", true)
        .await
        .map_err(|e| format!("mute: {e}"))?;
    let returned = Instant::now();
    let cutoff = publishers[usize::from(TARGET)]
        .next_seq
        .load(Ordering::SeqCst);
    tokio::time::sleep(MUTE_WATCH).await;
    for x in &publishers {
        x.stop.store(true, Ordering::Relaxed);
    }
    let muted_after = muted_drops(&api).await?;
    let mut lasts = Vec::with_capacity(s);
    let (mut late, mut target_frames) = (0usize, 0usize);
    let (mut sent_after, mut sent_during) = (0usize, 0usize);
    for x in &subscribers {
        let t = x.tally.lock().expect("tally");
        if let Some(last) = t.target_last {
            lasts.push(last);
        }
        target_frames += t.target_after.len();
        for (seq, at) in &t.target_after {
            if *at > returned + GRACE {
                late += 1;
            }
            match seq {
                Some(seq) if *seq >= cutoff => sent_after += 1,
                Some(seq) if *seq >= call_seq => sent_during += 1,
                _ => {}
            }
        }
    }
    // Time from the call to the target's last frame at each subscriber (0 for one whose last
    // frame came before the call).
    let mut mute = Report::from_instants("media-mute", call, &lasts);
    mute.extra("api_ms", (returned - call).as_secs_f64() * 1000.0);
    mute.extra("grace_ms", GRACE.as_secs_f64() * 1000.0);
    mute.extra("frames_after_call", target_frames as f64);
    mute.extra("late_frames", late as f64);
    mute.extra("verifying_subscribers", verifying as f64);
    mute.extra("sent_after_mute_delivered", sent_after as f64);
    // Frames handed to the peer while the call was in flight: a race the mute may lose.
    mute.extra("target_sent_during_call", f64::from(cutoff - call_seq));
    mute.extra("sent_during_call_delivered", sent_during as f64);
    mute.extra(
        "target_sent_after_mute",
        f64::from(
            publishers[usize::from(TARGET)]
                .next_seq
                .load(Ordering::SeqCst)
                .saturating_sub(cutoff),
        ),
    );
    mute.extra("server_muted_drops", muted_after - muted_before);
    mute.extra("sinks_without_target_slot", unmapped as f64);
    mute.extra(
        "ws_sessions_closed",
        shared.ws_closed.load(Ordering::Relaxed) as f64,
    );
    println!("{}", mute.to_json());

    for x in publishers {
        let _ = x.task.await;
    }
    let _ = api.delete_room(&room).await;
    if saturated {
        eprintln!("gavel-bench: media: saturated at S = {s} (see `saturation`)");
    }
    Ok(())
}

/// Runs `count` jobs, at most `concurrency` at a time, all within `timeout`; their results in
/// index order, or the first error.
pub(crate) async fn bounded<T, F, Fut>(
    count: usize,
    concurrency: usize,
    timeout: Duration,
    what: &str,
    job: F,
) -> Result<Vec<T>, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
    T: Send + 'static,
{
    bounded_each(count, concurrency, timeout, what, job)
        .await?
        .into_iter()
        .collect::<Result<Vec<T>, String>>()
        .map_err(|e| format!("{what}: {e}"))
}

/// Like [`bounded`], but one job's failure does not stop the others: every job's result, in
/// index order. Only running out of time is an error.
async fn bounded_each<T, F, Fut>(
    count: usize,
    concurrency: usize,
    timeout: Duration,
    what: &str,
    job: F,
) -> Result<Vec<Result<T, String>>, String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
    T: Send + 'static,
{
    let gate = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        let (gate, fut) = (gate.clone(), job(i));
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            (i, fut.await)
        });
    }
    let mut out: Vec<Option<Result<T, String>>> = (0..count).map(|_| None).collect();
    let mut done = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    while done < count {
        match tokio::time::timeout_at(deadline, set.join_next()).await {
            Ok(Some(Ok((i, r)))) => {
                out[i] = Some(r);
                done += 1;
            }
            Ok(Some(Err(e))) => return Err(format!("{what}: a task failed: {e}")),
            Ok(None) => break,
            Err(_) => {
                return Err(format!(
                    "{what}: only {done} of {count} done within {timeout:?}"
                ))
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|r| r.expect("every job done"))
        .collect())
}

/// Reads a participant's WebSocket messages so its client never holds too many unread (it
/// would end the session, see `gavel_client::MESSAGE_BUFFER`); keeps its slot map (mid →
/// publisher) from `media_slots`; counts sessions the server ends.
fn drain(rtc: Arc<RtcClient>, shared: Arc<Shared>, slots: Arc<Mutex<HashMap<String, String>>>) {
    tokio::spawn(async move {
        while let Some(m) = rtc.next(Duration::from_secs(3600)).await {
            match m {
                Message::Event {
                    event: Event::MediaSlots { slots: now, .. },
                    ..
                } => {
                    let mut map = slots.lock().expect("slots");
                    map.clear();
                    map.extend(now.into_iter().filter_map(|x| Some((x.mid, x.identity?))));
                }
                Message::Closed { .. } => {
                    shared.ws_closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                _ => {}
            }
        }
    });
}

/// Starts publisher `i` talking: one tagged frame every 20 ms with a steady loud level (so the
/// active-speaker list settles and its events stop), until told to stop.
fn talk(i: u16, peer: Arc<MediaPeer>, epoch: Instant) -> Publisher {
    let next_seq = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // -20 … -35 dBov: all above the server's speaking threshold, publisher 0 the loudest.
    let level = -(20 + (i % 16) as i8);
    let task = {
        let (next_seq, stop) = (next_seq.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRAME_INTERVAL);
            // A real client sends in real time: a late tick is skipped, not caught up, so a
            // generator that falls behind shows as fewer frames sent (the send ratio).
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let seq = next_seq.fetch_add(1, Ordering::SeqCst);
                let tag = Tag {
                    publisher: i,
                    seq,
                    sent_us: epoch.elapsed().as_micros() as u64,
                };
                if !peer
                    .send(Source::Microphone, tag.encode(), Some(level))
                    .await
                {
                    return;
                }
            }
        })
    };
    Publisher {
        next_seq,
        stop,
        task,
    }
}

/// A verifying subscriber's receiving loop: tallies every frame by its tag; the first one is
/// its join's end.
async fn listen(
    peer: Arc<MediaPeer>,
    tally: Arc<Mutex<Tally>>,
    shared: Arc<Shared>,
    mut firsts: Firsts,
) {
    while let Some(event) = peer.next(Duration::from_secs(3600)).await {
        let now = Instant::now();
        let data = match event {
            PeerEvent::Frame { data, .. } => data,
            PeerEvent::Connected => {
                firsts.connected(now);
                continue;
            }
        };
        let Some(tag) = Tag::decode(&data) else {
            continue;
        };
        firsts.frame(now);
        let muting = shared.muting.load(Ordering::Relaxed);
        let mut t = tally.lock().expect("tally");
        t.record(now, tag.publisher == TARGET, Some(tag.seq), muting);
        if tag.seq % LATENCY_SAMPLE_EVERY == 0 && shared.measuring.load(Ordering::Relaxed) {
            let at = now.duration_since(shared.epoch).as_micros() as u64;
            t.latencies
                .push(at.saturating_sub(tag.sent_us).min(u64::from(u32::MAX)) as u32);
        }
    }
}

/// Counters at one moment: both processes' CPU, the server's media metrics, frames here.
struct Snapshot {
    at: Instant,
    server_cpu_ms: f64,
    generator_cpu_ms: f64,
    machine_busy_ms: f64,
    forwarded: f64,
    datagrams_in: f64,
    datagrams_out: f64,
    dropped: BTreeMap<String, f64>,
    sent: u64,
    received: u64,
}

async fn snapshot(
    api: &ApiClient,
    pid: u32,
    publishers: &[Publisher],
    subscribers: &[Subscriber],
) -> Result<Snapshot, String> {
    // CPU first and last around the scrape, so the scrape itself is in both intervals alike.
    let server_cpu_ms = report::cpu_ms(pid).ok_or("cannot read the server's CPU time")?;
    let generator_cpu_ms =
        report::cpu_ms(std::process::id()).ok_or("cannot read this process's CPU time")?;
    let machine_busy_ms = report::machine_busy_ms().ok_or("cannot read /proc/stat")?;
    let sent = publishers
        .iter()
        .map(|x| u64::from(x.next_seq.load(Ordering::Relaxed)))
        .sum();
    let received = subscribers
        .iter()
        .map(|x| x.tally.lock().expect("tally").received)
        .sum();
    let at = Instant::now();
    let text = metrics(api).await?;
    Ok(Snapshot {
        at,
        server_cpu_ms,
        generator_cpu_ms,
        machine_busy_ms,
        forwarded: metric(&text, "gavel_media_frames_forwarded_total"),
        datagrams_in: metric(&text, "gavel_media_datagrams_total{direction=\"in\"}"),
        datagrams_out: metric(&text, "gavel_media_datagrams_total{direction=\"out\"}"),
        dropped: labelled(&text, "gavel_media_dropped_total", "reason"),
        sent,
        received,
    })
}

/// The measured interval's JSON line (its samples: one-way latency), and whether either side
/// saturated.
fn interval_report(
    a: &Snapshot,
    b: &Snapshot,
    subscribers: &[Subscriber],
    p: usize,
    s: usize,
) -> (Report, bool) {
    let secs = (b.at - a.at).as_secs_f64().max(1e-9);
    let server_cpu_ms = b.server_cpu_ms - a.server_cpu_ms;
    let generator_cpu_ms = b.generator_cpu_ms - a.generator_cpu_ms;
    let forwarded = b.forwarded - a.forwarded;
    let sent = (b.sent - a.sent) as f64;
    let received = (b.received - a.received) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let server_cores = server_cpu_ms / 1000.0 / secs;
    let generator_cores = generator_cpu_ms / 1000.0 / secs;
    let machine_cores = (b.machine_busy_ms - a.machine_busy_ms) / 1000.0 / secs;
    // Anything else that ran (another build on a shared machine) took CPU from both sides:
    // the run is then not clean, whatever its numbers.
    let other_cores = (machine_cores - server_cores - generator_cores).max(0.0);
    // Publishers meant to send 50 frames/s each; every frame sent is due to every subscriber.
    let send_ratio = sent / (p as f64 * FRAMES_PER_SECOND * secs);
    let forward_ratio = forwarded / (sent * s as f64).max(1.0);
    let delivery_ratio = received / forwarded.max(1.0);
    let mut saturation = Vec::new();
    if send_ratio < MIN_SEND_RATIO {
        saturation.push("generator: publishers fell behind 50 frames/s");
    }
    if delivery_ratio < MIN_DELIVERY_RATIO {
        saturation.push("generator: subscribers processed fewer frames than the server forwarded");
    }
    if machine_cores > MAX_CPU_SHARE * cores {
        saturation.push("machine: every core was busy");
    }
    let generator_saturated = !saturation.is_empty();
    // The server forwarding less than it was sent (its room's queue overflowing, counted in
    // `server_dropped`) is a result, not a fault of the generator; stepping S further only
    // measures a deeper overload.
    let server_saturated = forward_ratio < MIN_DELIVERY_RATIO;
    if server_saturated {
        saturation.push("server: forwarded less than every frame to every subscriber");
    }
    let latencies: Vec<f64> = subscribers
        .iter()
        .flat_map(|x| {
            let t = x.tally.lock().expect("tally");
            t.latencies
                .iter()
                .map(|us| f64::from(*us) / 1000.0)
                .collect::<Vec<_>>()
        })
        .collect();
    let dropped: BTreeMap<&String, f64> = b
        .dropped
        .iter()
        .map(|(k, v)| (k, v - a.dropped.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect();
    let mut r = Report::from_millis("media-forward", latencies);
    r.extra("publishers", p as f64);
    r.extra("subscribers", s as f64);
    r.extra("interval_s", secs);
    r.extra("frames_sent", sent);
    r.extra("frames_received", received);
    r.extra("frames_forwarded", forwarded);
    r.extra("forwarded_per_second", forwarded / secs);
    r.extra("server_cpu_ms", server_cpu_ms);
    r.extra(
        "server_cpu_us_per_packet",
        server_cpu_ms * 1000.0 / forwarded.max(1.0),
    );
    // The same figure as LiveKit quotes it: packets forwarded per second of one CPU.
    r.extra(
        "packets_per_server_cpu_second",
        forwarded / (server_cpu_ms / 1000.0).max(1e-9),
    );
    r.extra("server_cpu_cores", server_cores);
    r.extra("generator_cpu_cores", generator_cores);
    r.extra("machine_cpu_cores", machine_cores);
    r.extra("other_cpu_cores", other_cores);
    r.extra(
        "generator_cpu_us_per_packet",
        generator_cpu_ms * 1000.0 / received.max(1.0),
    );
    r.extra("send_ratio", send_ratio);
    r.extra("forward_ratio", forward_ratio);
    r.extra("delivery_ratio", delivery_ratio);
    r.extra("server_datagrams_in", b.datagrams_in - a.datagrams_in);
    r.extra("server_datagrams_out", b.datagrams_out - a.datagrams_out);
    r.set("server_dropped", json!(dropped));
    r.set("generator_saturated", json!(generator_saturated));
    r.set("server_saturated", json!(server_saturated));
    r.set("saturation", json!(saturation));
    (r, generator_saturated || server_saturated)
}

/// The server's Prometheus exposition (`/metrics`; `ApiClient::call` hands back non-JSON
/// bodies as a string).
pub(crate) async fn metrics(api: &ApiClient) -> Result<String, String> {
    match api.call("GET", "/metrics", None).await {
        Ok(Value::String(text)) => Ok(text),
        Ok(other) => Err(format!("/metrics: unexpected body {other}")),
        Err(e) => Err(format!("/metrics: {e}")),
    }
}

/// The value of the sample named exactly `name` (labels included), 0 when absent (a labelled
/// counter appears on first use).
pub(crate) fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .find_map(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Every sample of `family`, by the value of its label `label`.
fn labelled(text: &str, family: &str, label: &str) -> BTreeMap<String, f64> {
    let open = format!("{family}{{{label}=\"");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(&open)?;
            let (key, rest) = rest.split_once('"')?;
            let value = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((key.to_string(), value))
        })
        .collect()
}

async fn muted_drops(api: &ApiClient) -> Result<f64, String> {
    let text = metrics(api).await?;
    Ok(labelled(&text, "gavel_media_dropped_total", "reason")
        .get("muted")
        .copied()
        .unwrap_or(0.0))
}

pub(crate) fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_survives_the_round_trip_and_fills_an_opus_sized_frame() {
        let tag = Tag {
            publisher: 7,
            seq: 123_456,
            sent_us: 9_876_543_210,
        };
        let frame = tag.encode();
        assert_eq!(frame.len(), FRAME_BYTES);
        assert_eq!(Tag::decode(&frame), Some(tag));
        assert_eq!(Tag::decode(b"not a tagged frame"), None);
    }

    #[test]
    fn metrics_are_read_by_exact_name_and_by_label() {
        let text = "# HELP x\n\
            gavel_media_frames_forwarded_total 1234\n\
            gavel_media_frames_forwarded_total_created 1.7e9\n\
            gavel_media_datagrams_total{direction=\"out\"} 99\n\
            gavel_media_dropped_total{reason=\"muted\"} 5\n\
            gavel_media_dropped_total{reason=\"unknown\"} 2\n";
        assert_eq!(metric(text, "gavel_media_frames_forwarded_total"), 1234.0);
        assert_eq!(
            metric(text, "gavel_media_datagrams_total{direction=\"out\"}"),
            99.0
        );
        assert_eq!(metric(text, "gavel_media_absent_total"), 0.0);
        let dropped = labelled(text, "gavel_media_dropped_total", "reason");
        assert_eq!(dropped.get("muted"), Some(&5.0));
        assert_eq!(dropped.get("unknown"), Some(&2.0));
    }
}
