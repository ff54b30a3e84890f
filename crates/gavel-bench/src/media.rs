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
//!    `gavel_media_packets_forwarded_total`, and both processes' CPU time from /proc, which give
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

use crate::media_report::{self, Counters, Subscriber};
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
pub(crate) const FRAME_INTERVAL: Duration = Duration::from_millis(20);
pub(crate) const FRAMES_PER_SECOND: f64 = 50.0;
/// An Opus packet at ~32 kbit/s.
const FRAME_BYTES: usize = 80;
const MAGIC: [u8; 2] = *b"GB";
/// After everyone receives, before measuring: joins' control traffic (slot maps, counts,
/// active-speaker changes) dies down, and RSS settles.
pub(crate) const SETTLE: Duration = Duration::from_secs(2);
/// A frame forwarded just before the mute may still be on its way (loopback, the generator's
/// queues): arrivals this long after the call returned are not counted as late.
pub(crate) const GRACE: Duration = Duration::from_millis(100);
/// How long the muted publisher keeps sending, and the subscribers keep listening, after the
/// mute.
pub(crate) const MUTE_WATCH: Duration = Duration::from_secs(2);
/// One frame in this many is timed for one-way latency (keeps the per-frame cost flat).
pub(crate) const LATENCY_SAMPLE_EVERY: u32 = 8;
/// The publisher the host mutes.
pub(crate) const TARGET: u16 = 0;
/// A sink watches no SSRC yet.
pub(crate) const NO_SSRC: u64 = u64::MAX;
/// Saturation thresholds (see the module doc).
pub(crate) const MIN_SEND_RATIO: f64 = 0.95;
pub(crate) const MIN_DELIVERY_RATIO: f64 = 0.98;
pub(crate) const MAX_CPU_SHARE: f64 = 0.95;

/// A frame's tag: `[magic 2][publisher u16][seq u32][sent µs u64]` (little-endian), padded
/// with zeros to [`FRAME_BYTES`]. str0m's Opus path carries the payload unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tag {
    pub(crate) publisher: u16,
    pub(crate) seq: u32,
    /// Microseconds since the run's epoch, when the publisher handed the frame to its peer.
    pub(crate) sent_us: u64,
}

impl Tag {
    pub(crate) fn encode(self) -> Vec<u8> {
        let mut f = Vec::with_capacity(FRAME_BYTES);
        f.extend_from_slice(&MAGIC);
        f.extend_from_slice(&self.publisher.to_le_bytes());
        f.extend_from_slice(&self.seq.to_le_bytes());
        f.extend_from_slice(&self.sent_us.to_le_bytes());
        f.resize(FRAME_BYTES, 0);
        f
    }

    pub(crate) fn decode(data: &[u8]) -> Option<Tag> {
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
pub(crate) struct Shared {
    pub(crate) epoch: Instant,
    /// The measured interval is running: sample latencies.
    pub(crate) measuring: AtomicBool,
    /// The mute is under way: log each of the target's frames.
    pub(crate) muting: AtomicBool,
    /// WebSocket sessions the server closed (a slow consumer, a kick): must stay 0.
    pub(crate) ws_closed: AtomicUsize,
}

impl Shared {
    pub(crate) fn new() -> Shared {
        Shared {
            epoch: Instant::now(),
            measuring: AtomicBool::new(false),
            muting: AtomicBool::new(false),
            ws_closed: AtomicUsize::new(0),
        }
    }
}

/// One subscriber's count, updated by its receiving task on every frame.
#[derive(Default)]
pub(crate) struct Tally {
    pub(crate) received: u64,
    /// The mute target's frames: the last arrival, and each one (with its sequence number when
    /// the subscriber decrypts) once the mute is under way.
    pub(crate) target_last: Option<Instant>,
    pub(crate) target_after: Vec<(Option<u32>, Instant)>,
    /// One-way latencies (µs), sampled during the measured interval (verifying subscribers).
    pub(crate) latencies: Vec<u32>,
    /// Why its media session ended, if it did (sinks).
    pub(crate) ended: Option<String>,
}

impl Tally {
    pub(crate) fn record(&mut self, at: Instant, target: bool, seq: Option<u32>, muting: bool) {
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
pub(crate) struct Publisher {
    /// The next sequence number: frames sent so far. Taken *before* a frame is handed to the
    /// peer, so a frame numbered at or above the value read when the mute returned was sent
    /// after it.
    pub(crate) next_seq: Arc<AtomicU32>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
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

/// What a subscriber keeps (its join is timed from its `media_offer`).
struct Kept {
    peer: Peer,
    /// mid → publisher identity, from the room's `media_slots` events.
    slots: Arc<Mutex<HashMap<String, String>>>,
}

/// When a subscriber's peer first reported each step.
pub(crate) struct Firsts {
    pub(crate) connected: Option<oneshot::Sender<Instant>>,
    pub(crate) frame: Option<oneshot::Sender<Instant>>,
}

/// The other ends of a [`Firsts`].
pub(crate) struct Arrivals {
    connected: oneshot::Receiver<Instant>,
    frame: oneshot::Receiver<Instant>,
}

impl Firsts {
    pub(crate) fn new() -> (Firsts, Arrivals) {
        let (connected_tx, connected) = oneshot::channel();
        let (frame_tx, frame) = oneshot::channel();
        let firsts = Firsts {
            connected: Some(connected_tx),
            frame: Some(frame_tx),
        };
        (firsts, Arrivals { connected, frame })
    }

    pub(crate) fn connected(&mut self, at: Instant) {
        if let Some(f) = self.connected.take() {
            let _ = f.send(at);
        }
    }
    pub(crate) fn frame(&mut self, at: Instant) {
        if let Some(f) = self.frame.take() {
            let _ = f.send(at);
        }
    }
}

impl Arrivals {
    /// Subscriber `i`, once its first frame arrived (or why none did), its join timed from
    /// `start`, its answer at `answered`.
    pub(crate) async fn wait<K>(
        self,
        i: usize,
        start: Instant,
        answered: Instant,
        tally: Arc<Mutex<Tally>>,
        kept: K,
    ) -> Result<Subscriber<K>, String> {
        let first = self.frame.await.map_err(|_| {
            let why = tally.lock().expect("tally").ended.take();
            format!("subscriber {i}: media ended before any audio ({why:?})")
        })?;
        let connected = self.connected.await.unwrap_or(first);
        let ms = |at: Instant| at.duration_since(start).as_secs_f64() * 1000.0;
        Ok(Subscriber {
            kept,
            tally,
            join_ms: ms(first),
            answer_ms: ms(answered),
            connected_ms: ms(connected),
        })
    }
}

/// A sink's reports into its subscriber's tally.
pub(crate) struct Counted {
    pub(crate) tally: Arc<Mutex<Tally>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) firsts: Firsts,
    pub(crate) watch: Arc<AtomicU64>,
}

impl Counted {
    /// A sink's recorder watching no SSRC yet, and the handle that sets the one it watches.
    pub(crate) fn new(
        tally: Arc<Mutex<Tally>>,
        shared: Arc<Shared>,
        firsts: Firsts,
    ) -> (Counted, Arc<AtomicU64>) {
        let watch = Arc::new(AtomicU64::new(NO_SSRC));
        let counted = Counted {
            tally,
            shared,
            firsts,
            watch: watch.clone(),
        };
        (counted, watch)
    }
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
    let (p, s, pid) = room_args(args, "the server's")?;
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
    let shared = Arc::new(Shared::new());
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
            let (firsts, arrivals) = Firsts::new();
            let peer = if i < verifying {
                let peer = MediaPeer::open(&rtc, ip, &[], p, 0)
                    .await
                    .map_err(|e| format!("subscriber {i}: {e}"))?;
                let peer = Arc::new(peer);
                tokio::spawn(listen(peer.clone(), tally.clone(), shared, firsts));
                Peer::Verifying(peer)
            } else {
                let (counted, watch) = Counted::new(tally.clone(), shared, firsts);
                let sink = Sink::open(&rtc, ip, p, counted)
                    .await
                    .map_err(|e| format!("subscriber {i}: {e}"))?;
                Peer::Counting { sink, watch }
            };
            let answered = Instant::now();
            // The join slot is held until audio arrives: `--concurrency` bounds joins in
            // progress, ICE and DTLS included.
            arrivals
                .wait(i, t, answered, tally, Kept { peer, slots })
                .await
        }
    })
    .await?;
    let media_seconds = media_started.elapsed().as_secs_f64();
    let (subscribers, failures) = media_report::subscribed(attempts)?;
    let s = subscribers.len();
    let join = media_report::join_report(
        &subscribers,
        &failures,
        p,
        media_seconds,
        &ws_join,
        ws_seconds,
    );
    println!("{}", join.to_json());

    // Phase 3: memory, then the measured interval.
    tokio::time::sleep(SETTLE).await;
    let rss_media = report::rss_kib(pid).ok_or("cannot read the server's RSS")?;
    println!(
        "{}",
        media_report::memory_report(s, p, rss_before, rss_ws, rss_media)
    );

    // Sinks learn which of the server's streams carries the mute target (their slot map and
    // the answer's SSRCs), before the interval, so each has its last frame when the mute comes.
    let target = format!("{prefix}pub{TARGET}");
    let mut unmapped = 0;
    for x in &subscribers {
        if let Peer::Counting { sink, watch } = &x.kept.peer {
            let slots = x.kept.slots.lock().expect("slots");
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
    let call = mute_call(&api, &room, &target);
    let m = media_report::mute(&shared, &publishers, call).await?;
    let muted_after = muted_drops(&api).await?;
    let mut mute = media_report::mute_report(&m, &publishers, &subscribers, verifying);
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

/// The room's size (P, S) and the server's process, checked; `server` names it in errors
/// ("the server's").
pub(crate) fn room_args(args: &Args, server: &str) -> Result<(usize, usize, u32), String> {
    let (p, s) = (args.publishers, args.n);
    if p == 0 || p > usize::from(u16::MAX) || s == 0 {
        return Err("the media scenario needs 1 ≤ --publishers ≤ 65535 and -n ≥ 1".into());
    }
    let pid = args.server_pid.ok_or_else(|| {
        format!("the media scenario needs --server-pid (it measures {server} CPU)")
    })?;
    Ok((p, s, pid))
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
pub(crate) async fn bounded_each<T, F, Fut>(
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

/// A publisher's media session, as [`talk`] drives it.
pub(crate) trait Voice: Send + Sync + 'static {
    /// Hands one audio frame at `level` dBov to the peer; `false` once the peer is gone.
    fn speak(&self, frame: Vec<u8>, level: i8) -> impl Future<Output = bool> + Send;
}

impl Voice for MediaPeer {
    fn speak(&self, frame: Vec<u8>, level: i8) -> impl Future<Output = bool> + Send {
        self.send(Source::Microphone, frame, Some(level))
    }
}

/// Starts publisher `i` talking: one tagged frame every 20 ms with a steady loud level (so the
/// active-speaker list settles and its events stop), until told to stop.
pub(crate) fn talk<V: Voice>(i: u16, peer: Arc<V>, epoch: Instant) -> Publisher {
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
                if !peer.speak(tag.encode(), level).await {
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

/// Tallies a frame by its tag, if it carries one (a verifying subscriber's): the first is its
/// join's end; one in [`LATENCY_SAMPLE_EVERY`] is timed during the measured interval.
pub(crate) fn tally_tagged(
    tally: &Mutex<Tally>,
    shared: &Shared,
    firsts: &mut Firsts,
    at: Instant,
    data: &[u8],
) {
    let Some(tag) = Tag::decode(data) else {
        return;
    };
    firsts.frame(at);
    let muting = shared.muting.load(Ordering::Relaxed);
    let mut t = tally.lock().expect("tally");
    t.record(at, tag.publisher == TARGET, Some(tag.seq), muting);
    if tag.seq % LATENCY_SAMPLE_EVERY == 0 && shared.measuring.load(Ordering::Relaxed) {
        let now = at.duration_since(shared.epoch).as_micros() as u64;
        t.latencies
            .push(now.saturating_sub(tag.sent_us).min(u64::from(u32::MAX)) as u32);
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
        tally_tagged(&tally, &shared, &mut firsts, now, &data);
    }
}

/// Counters at one moment: both processes' CPU and frames here, the server's media metrics.
struct Snapshot {
    counters: Counters,
    forwarded: f64,
    datagrams_in: f64,
    datagrams_out: f64,
    dropped: BTreeMap<String, f64>,
}

async fn snapshot(
    api: &ApiClient,
    pid: u32,
    publishers: &[Publisher],
    subscribers: &[Subscriber<Kept>],
) -> Result<Snapshot, String> {
    // CPU first and last around the scrape, so the scrape itself is in both intervals alike.
    let counters = media_report::counters(pid, "the server's", publishers, subscribers)?;
    let text = metrics(api).await?;
    Ok(Snapshot {
        counters,
        forwarded: metric(&text, "gavel_media_packets_forwarded_total"),
        datagrams_in: metric(&text, "gavel_media_datagrams_total{direction=\"in\"}"),
        datagrams_out: metric(&text, "gavel_media_datagrams_total{direction=\"out\"}"),
        dropped: labelled(&text, "gavel_media_dropped_total", "reason"),
    })
}

/// The measured interval's JSON line, with the server's own counts, and whether either side
/// saturated.
fn interval_report(
    a: &Snapshot,
    b: &Snapshot,
    subscribers: &[Subscriber<Kept>],
    p: usize,
    s: usize,
) -> (Report, bool) {
    let forwarded = b.forwarded - a.forwarded;
    let (mut r, saturated) =
        media_report::interval_report(&a.counters, &b.counters, Some(forwarded), subscribers, p, s);
    let dropped: BTreeMap<&String, f64> = b
        .dropped
        .iter()
        .map(|(k, v)| (k, v - a.dropped.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| *d > 0.0)
        .collect();
    r.extra("server_datagrams_in", b.datagrams_in - a.datagrams_in);
    r.extra("server_datagrams_out", b.datagrams_out - a.datagrams_out);
    r.set("server_dropped", json!(dropped));
    (r, saturated)
}

/// The host's call muting `target`'s microphone.
async fn mute_call(api: &ApiClient, room: &str, target: &str) -> Result<(), String> {
    api.mute(room, target, "microphone", true)
        .await
        .map(|_| ())
        .map_err(|e| format!("mute: {e}"))
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
            gavel_media_packets_forwarded_total 1234\n\
            gavel_media_packets_forwarded_total_created 1.7e9\n\
            gavel_media_datagrams_total{direction=\"out\"} 99\n\
            gavel_media_dropped_total{reason=\"muted\"} 5\n\
            gavel_media_dropped_total{reason=\"unknown\"} 2\n";
        assert_eq!(metric(text, "gavel_media_packets_forwarded_total"), 1234.0);
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
