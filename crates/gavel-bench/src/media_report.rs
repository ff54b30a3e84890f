//! The media scenario's measurements and JSON lines, one set for both targets (`media.rs`
//! against Gavel, `janus_media.rs` against Janus), so the two compare key by key.

use crate::media::{
    round, Publisher, Shared, Tally, FRAMES_PER_SECOND, GRACE, MAX_CPU_SHARE, MIN_DELIVERY_RATIO,
    MIN_SEND_RATIO, MUTE_WATCH, TARGET,
};
use crate::report::{self, Report};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A subscriber receiving, with what keeps its session alive (`kept`, per target).
pub(crate) struct Subscriber<K> {
    pub(crate) kept: K,
    pub(crate) tally: Arc<Mutex<Tally>>,
    /// From its join's start to its first frame.
    pub(crate) join_ms: f64,
    /// The steps of that join, from the same start: the answer, ICE + DTLS up.
    pub(crate) answer_ms: f64,
    pub(crate) connected_ms: f64,
}

/// The subscribers that joined, and why the others did not. A join that fails is counted, not
/// fatal: under load that is the result (the server dropping new sessions' handshakes), and
/// the rest of the room is still measured. An error only when none joined.
pub(crate) fn subscribed<K>(
    attempts: Vec<Result<Subscriber<K>, String>>,
) -> Result<(Vec<Subscriber<K>>, Vec<String>), String> {
    let mut failures: Vec<String> = Vec::new();
    let subscribers: Vec<Subscriber<K>> = attempts
        .into_iter()
        .filter_map(|r| r.map_err(|e| failures.push(e)).ok())
        .collect();
    if subscribers.is_empty() {
        return Err(format!(
            "no subscriber received audio; first failure: {}",
            failures.first().map_or("none", String::as_str)
        ));
    }
    Ok((subscribers, failures))
}

/// The `media-join` line: join-to-first-audio per subscriber, its steps, and the WebSocket
/// joins before it (`ws_join`, all P + S of them within `ws_seconds`).
pub(crate) fn join_report<K>(
    subscribers: &[Subscriber<K>],
    failures: &[String],
    p: usize,
    media_seconds: f64,
    ws_join: &Report,
    ws_seconds: f64,
) -> Report {
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
    join
}

/// The `media-memory` line: the server's RSS before the joins, with the WebSockets, and with
/// the media sessions too, per participant.
pub(crate) fn memory_report(
    s: usize,
    p: usize,
    rss_before: u64,
    rss_ws: u64,
    rss_media: u64,
) -> Value {
    let sessions = (p + s) as f64;
    json!({"scenario": "media-memory", "n": s, "publishers": p,
        "server_rss_kib_before": rss_before, "server_rss_kib_websockets": rss_ws,
        "server_rss_kib_media": rss_media,
        "kib_per_ws_participant": round(rss_ws.saturating_sub(rss_before) as f64 / sessions),
        "kib_per_media_session": round(rss_media.saturating_sub(rss_ws) as f64 / sessions)})
}

/// Counters at one moment: both processes' CPU and the machine's, frames sent and received.
pub(crate) struct Counters {
    pub(crate) at: Instant,
    pub(crate) server_cpu_ms: f64,
    pub(crate) generator_cpu_ms: f64,
    pub(crate) machine_busy_ms: f64,
    pub(crate) sent: u64,
    pub(crate) received: u64,
}

/// Reads the [`Counters`]; `server` names the server process in errors ("the server's").
pub(crate) fn counters<K>(
    pid: u32,
    server: &str,
    publishers: &[Publisher],
    subscribers: &[Subscriber<K>],
) -> Result<Counters, String> {
    let server_cpu_ms =
        report::cpu_ms(pid).ok_or_else(|| format!("cannot read {server} CPU time"))?;
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
    Ok(Counters {
        at: Instant::now(),
        server_cpu_ms,
        generator_cpu_ms,
        machine_busy_ms,
        sent,
        received,
    })
}

/// The measured interval's `media-forward` line (its samples: one-way latency), and whether
/// either side saturated. `forwarded` is the server's count of frames forwarded over the
/// interval; `None` for a server that counts nothing, where it is what the subscribers
/// received (so the delivery ratio is 1 by construction, and a loss cannot be told apart
/// from the generator's).
pub(crate) fn interval_report<K>(
    a: &Counters,
    b: &Counters,
    forwarded: Option<f64>,
    subscribers: &[Subscriber<K>],
    p: usize,
    s: usize,
) -> (Report, bool) {
    let secs = (b.at - a.at).as_secs_f64().max(1e-9);
    let server_cpu_ms = b.server_cpu_ms - a.server_cpu_ms;
    let generator_cpu_ms = b.generator_cpu_ms - a.generator_cpu_ms;
    let sent = (b.sent - a.sent) as f64;
    let received = (b.received - a.received) as f64;
    let counted = forwarded.is_some();
    let forwarded = forwarded.unwrap_or(received);
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
    let delivery_ratio = if counted {
        received / forwarded.max(1.0)
    } else {
        1.0
    };
    let mut saturation = Vec::new();
    if send_ratio < MIN_SEND_RATIO {
        saturation.push("generator: publishers fell behind 50 frames/s");
    }
    if counted && delivery_ratio < MIN_DELIVERY_RATIO {
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
        saturation.push(if counted {
            "server: forwarded less than every frame to every subscriber"
        } else {
            "server or generator: subscribers received less than every frame (Janus counts \
             nothing, so this run cannot tell which)"
        });
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
    let mut r = Report::from_millis("media-forward", latencies);
    r.extra("publishers", p as f64);
    r.extra("subscribers", s as f64);
    r.extra("interval_s", secs);
    r.extra("frames_sent", sent);
    r.extra("frames_received", received);
    r.extra("frames_forwarded", forwarded);
    if !counted {
        r.set("forwarded_counted_as", json!("received by the subscribers"));
    }
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
    r.set("generator_saturated", json!(generator_saturated));
    r.set("server_saturated", json!(server_saturated));
    r.set("saturation", json!(saturation));
    (r, generator_saturated || server_saturated)
}

/// When the mute call was made and returned, and the target's sequence numbers then.
pub(crate) struct MuteCall {
    pub(crate) call: Instant,
    pub(crate) returned: Instant,
    /// The target's next sequence number when the call was made and when it returned: frames
    /// numbered at or above `cutoff` were sent after the mute.
    pub(crate) call_seq: u32,
    pub(crate) cutoff: u32,
}

/// Mutes the target with `call` while its client keeps sending, watches for [`MUTE_WATCH`],
/// then stops every publisher.
pub(crate) async fn mute(
    shared: &Shared,
    publishers: &[Publisher],
    call: impl Future<Output = Result<(), String>>,
) -> Result<MuteCall, String> {
    let target = &publishers[usize::from(TARGET)];
    shared.muting.store(true, Ordering::Relaxed);
    let at = Instant::now();
    let call_seq = target.next_seq.load(Ordering::SeqCst);
    call.await?;
    let returned = Instant::now();
    let cutoff = target.next_seq.load(Ordering::SeqCst);
    tokio::time::sleep(MUTE_WATCH).await;
    for x in publishers {
        x.stop.store(true, Ordering::Relaxed);
    }
    Ok(MuteCall {
        call: at,
        returned,
        call_seq,
        cutoff,
    })
}

/// The `media-mute` line from every subscriber's tally of the target's frames.
pub(crate) fn mute_report<K>(
    m: &MuteCall,
    publishers: &[Publisher],
    subscribers: &[Subscriber<K>],
    verifying: usize,
) -> Report {
    let mut lasts = Vec::with_capacity(subscribers.len());
    let (mut late, mut target_frames) = (0usize, 0usize);
    let (mut sent_after, mut sent_during) = (0usize, 0usize);
    for x in subscribers {
        let t = x.tally.lock().expect("tally");
        if let Some(last) = t.target_last {
            lasts.push(last);
        }
        target_frames += t.target_after.len();
        for (seq, at) in &t.target_after {
            if *at > m.returned + GRACE {
                late += 1;
            }
            match seq {
                Some(seq) if *seq >= m.cutoff => sent_after += 1,
                Some(seq) if *seq >= m.call_seq => sent_during += 1,
                _ => {}
            }
        }
    }
    // Time from the call to the target's last frame at each subscriber (0 for one whose last
    // frame came before the call).
    let mut mute = Report::from_instants("media-mute", m.call, &lasts);
    mute.extra("api_ms", (m.returned - m.call).as_secs_f64() * 1000.0);
    mute.extra("grace_ms", GRACE.as_secs_f64() * 1000.0);
    mute.extra("frames_after_call", target_frames as f64);
    mute.extra("late_frames", late as f64);
    mute.extra("verifying_subscribers", verifying as f64);
    mute.extra("sent_after_mute_delivered", sent_after as f64);
    // Frames handed to the peer while the call was in flight: a race the mute may lose.
    mute.extra("target_sent_during_call", f64::from(m.cutoff - m.call_seq));
    mute.extra("sent_during_call_delivered", sent_during as f64);
    mute.extra(
        "target_sent_after_mute",
        f64::from(
            publishers[usize::from(TARGET)]
                .next_seq
                .load(Ordering::SeqCst)
                .saturating_sub(m.cutoff),
        ),
    );
    mute
}
