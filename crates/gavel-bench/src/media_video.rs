//! The media plane forwarding video (`--scenario media-video`): one simulcast camera and S
//! receive-only subscribers (`-n`), each offering one video slot.
//!
//! The publisher is a str0m session in this process sending two simulcast layers: `l`
//! (15 frames/s of [`LOW_BYTES`], one packet each) and `h` (30 frames/s of [`HIGH_BYTES`],
//! several packets each). Every frame is marked a VP8 key frame, so a layer switch never waits
//! for one. Subscribers are lean sinks (`sink.rs`): real WebRTC sessions whose RTP datagrams
//! are only counted.
//!
//! Phases, each bounded by `--timeout`: everyone joins over WebSocket; the publisher opens
//! media and films; the subscribers open media (`--concurrency` at a time), join-to-first-video
//! per subscriber from its `media_offer` to its first RTP packet. Then two measured intervals
//! (`--interval` seconds each): first with every subscriber on the low layer (the server's
//! default), then after the host pins the publisher, which puts every subscriber on the high
//! layer. Each reports the server's CPU time (from `/proc`) per datagram it sent, the
//! datagrams and video frames it forwarded per second, and what the sinks received.

use crate::media::{bounded, metric, metrics, round};
use crate::report::{self, Report};
use crate::sink::{Recorder, Sink};
use crate::udp_peer;
use crate::Args;
use gavel_client::core::{Command, OfferedTrack, Source};
use gavel_client::{AccessToken, ApiClient, RtcClient};
use serde_json::json;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, MediaTime, Rid, Simulcast, SimulcastLayer};
use str0m::{Event, Input, Output, Rtc};
use tokio::sync::oneshot;

/// The high layer: 30 frames/s of this size (~1.2 Mbit/s).
const HIGH_BYTES: usize = 5_000;
/// The low layer: 15 frames/s of this size (~144 kbit/s).
const LOW_BYTES: usize = 1_200;
const FRAME_INTERVAL: Duration = Duration::from_millis(33);
/// After a phase change (everyone joined, the pin), before measuring.
const SETTLE: Duration = Duration::from_secs(2);

pub async fn run(args: &Args) -> Result<(), String> {
    let s = args.n;
    let pid = args
        .server_pid
        .ok_or("the media-video scenario needs --server-pid (it measures the server's CPU)")?;
    let timeout = Duration::from_secs(args.timeout);
    let room = args
        .room
        .clone()
        .unwrap_or_else(|| format!("video-{}", std::process::id()));
    let api = ApiClient::new(
        &args.url,
        &AccessToken::new(&args.key, &args.secret)
            .admin(None)
            .to_jwt(),
    );
    let ws = args.url.replacen("http", "ws", 1);
    api.create_room(&room, json!({"max_participants": 0}))
        .await
        .map_err(|e| e.to_string())?;
    let camera = format!("v{}-camera", std::process::id());
    let identities: Vec<(String, &str)> = std::iter::once((camera.clone(), "participant"))
        .chain((0..s).map(|i| (format!("v{}-sub{i}", std::process::id()), "viewer")))
        .collect();
    let mut joined = bounded(identities.len(), args.concurrency, timeout, "join", |i| {
        let (identity, role) = identities[i].clone();
        let token = AccessToken::new(&args.key, &args.secret)
            .join(&room, &identity)
            .role(role)
            .ttl(3600)
            .to_jwt();
        let ws = ws.clone();
        async move {
            let rtc = RtcClient::connect(&ws, &token)
                .await
                .map_err(|e| format!("{identity}: {e}"))?;
            let rtc = Arc::new(rtc);
            drain(rtc.clone());
            Ok(rtc)
        }
    })
    .await?;
    let subscribers = joined.split_off(1);
    let publisher = film(&joined[0], args.media_ip).await?;

    let ip = args.media_ip;
    let sinks = bounded(s, args.concurrency, timeout, "subscriber media", |i| {
        let rtc = subscribers[i].clone();
        async move {
            let t = Instant::now();
            let (first_tx, first_rx) = oneshot::channel();
            let counter = Counter {
                packets: Arc::new(AtomicU64::new(0)),
                first: Some(first_tx),
                ended: Arc::default(),
            };
            let (packets, ended) = (counter.packets.clone(), counter.ended.clone());
            let sink = Sink::open_kind(&rtc, ip, MediaKind::Video, 1, counter)
                .await
                .map_err(|e| format!("subscriber {i}: {e}"))?;
            let first = first_rx.await.map_err(|_| {
                let why = ended.lock().expect("ended").take();
                format!("subscriber {i}: media ended before any video ({why:?})")
            })?;
            let ms = first.duration_since(t).as_secs_f64() * 1000.0;
            Ok((sink, packets, ms))
        }
    })
    .await?;
    let mut join = Report::from_millis("media-video-join", sinks.iter().map(|x| x.2).collect());
    join.extra("subscribers", s as f64);
    println!("{}", join.to_json());
    let counters: Vec<Arc<AtomicU64>> = sinks.iter().map(|x| x.1.clone()).collect();

    tokio::time::sleep(SETTLE).await;
    let interval = Duration::from_secs(args.interval);
    measure("low", &api, pid, &counters, &publisher, interval).await?;
    api.pin(&room, &camera).await.map_err(|e| e.to_string())?;
    tokio::time::sleep(SETTLE).await;
    measure("high", &api, pid, &counters, &publisher, interval).await?;
    publisher.stop.store(true, Ordering::Relaxed);
    drop(sinks);
    Ok(())
}

/// One measured interval; prints its JSON line.
async fn measure(
    layer: &str,
    api: &ApiClient,
    pid: u32,
    counters: &[Arc<AtomicU64>],
    publisher: &Filming,
    interval: Duration,
) -> Result<(), String> {
    let a = Snapshot::take(api, pid, counters, publisher).await?;
    tokio::time::sleep(interval).await;
    let b = Snapshot::take(api, pid, counters, publisher).await?;
    let secs = (b.at - a.at).as_secs_f64().max(1e-9);
    let out = b.datagrams_out - a.datagrams_out;
    let cpu_ms = b.server_cpu_ms - a.server_cpu_ms;
    let line = json!({
        "scenario": "media-video-forward",
        "layer": layer,
        "subscribers": counters.len(),
        "interval_s": round(secs),
        "publisher_packets_per_second": round((b.published - a.published) as f64 / secs),
        "server_datagrams_out_per_second": round(out / secs),
        "packets_forwarded_per_second": round((b.forwarded - a.forwarded) / secs),
        "received_per_second": round((b.received - a.received) as f64 / secs),
        "delivery_ratio": round((b.received - a.received) as f64 / out.max(1.0)),
        "server_cpu_cores": round(cpu_ms / 1000.0 / secs),
        "server_cpu_us_per_datagram": round(cpu_ms * 1000.0 / out.max(1.0)),
        "generator_cpu_cores": round((b.generator_cpu_ms - a.generator_cpu_ms) / 1000.0 / secs),
    });
    println!("{line}");
    Ok(())
}

struct Snapshot {
    at: Instant,
    server_cpu_ms: f64,
    generator_cpu_ms: f64,
    datagrams_out: f64,
    forwarded: f64,
    received: u64,
    published: u64,
}

impl Snapshot {
    async fn take(
        api: &ApiClient,
        pid: u32,
        counters: &[Arc<AtomicU64>],
        publisher: &Filming,
    ) -> Result<Snapshot, String> {
        let server_cpu_ms = report::cpu_ms(pid).ok_or("cannot read the server's CPU time")?;
        let generator_cpu_ms =
            report::cpu_ms(std::process::id()).ok_or("cannot read this process's CPU time")?;
        let received = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let published = publisher.packets.load(Ordering::Relaxed);
        let at = Instant::now();
        let text = metrics(api).await?;
        Ok(Snapshot {
            at,
            server_cpu_ms,
            generator_cpu_ms,
            datagrams_out: metric(&text, "gavel_media_datagrams_total{direction=\"out\"}"),
            forwarded: metric(&text, "gavel_media_packets_forwarded_total"),
            received,
            published,
        })
    }
}

/// Counts a sink's RTP packets and reports the first.
struct Counter {
    packets: Arc<AtomicU64>,
    first: Option<oneshot::Sender<Instant>>,
    ended: Arc<Mutex<Option<String>>>,
}

impl Recorder for Counter {
    fn connected(&mut self, _at: Instant) {}
    fn rtp(&mut self, at: Instant, _ssrc: u32) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        if let Some(first) = self.first.take() {
            let _ = first.send(at);
        }
    }
    fn ended(&mut self, why: String) {
        *self.ended.lock().expect("ended") = Some(why);
    }
}

/// Reads a participant's WebSocket messages so its client's buffer never fills.
fn drain(rtc: Arc<RtcClient>) {
    tokio::spawn(async move { while rtc.next(Duration::from_secs(3600)).await.is_some() {} });
}

/// The filming publisher's task.
struct Filming {
    stop: Arc<AtomicBool>,
    /// RTP datagrams it sent (both layers).
    packets: Arc<AtomicU64>,
}

/// Opens `rtc`'s media session with a simulcast camera (`l`, `h`) and starts filming.
async fn film(rtc: &RtcClient, ip: IpAddr) -> Result<Filming, String> {
    let (mut peer, socket, local) = udp_peer::bind(ip).await?;
    let mut layers = Simulcast::new();
    layers.add_send_layer(SimulcastLayer::new("l"));
    layers.add_send_layer(SimulcastLayer::new("h"));
    let mut api = peer.sdp_api();
    let mid = api.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        None,
        None,
        Some(layers),
    );
    let (offer, pending) = api.apply().ok_or("nothing to offer")?;
    let reply = rtc
        .command(&Command::MediaOffer {
            sdp: offer.to_sdp_string(),
            tracks: vec![OfferedTrack {
                mid: mid.to_string(),
                source: Source::Camera,
            }],
        })
        .await
        .map_err(|e| format!("camera: {e}"))?;
    let sdp = reply["sdp"].as_str().ok_or("the answer has no sdp")?;
    let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
    peer.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| e.to_string())?;
    let filming = Filming {
        stop: Arc::default(),
        packets: Arc::default(),
    };
    let (stop, packets) = (filming.stop.clone(), filming.packets.clone());
    tokio::spawn(async move {
        let start = Instant::now();
        let mut next_frame = start;
        let mut frame: u64 = 0;
        let mut connected = false;
        let mut buf = vec![0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let deadline = loop {
                match peer.poll_output() {
                    Ok(Output::Timeout(t)) => break t,
                    Ok(Output::Transmit(t)) => {
                        if (128..=191).contains(&t.contents[0]) {
                            packets.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = socket.send_to(&t.contents, t.destination).await;
                    }
                    Ok(Output::Event(Event::Connected)) => connected = true,
                    Ok(Output::Event(_)) => {}
                    Err(_) => return,
                }
            };
            let wake = if connected {
                deadline.min(next_frame)
            } else {
                deadline
            };
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { continue };
                    let Some(input) = udp_peer::received(local, source, &buf[..n]) else { continue };
                    if peer.handle_input(input).is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                    let now = Instant::now();
                    if connected && now >= next_frame {
                        write_frames(&mut peer, mid, now, start, frame);
                        frame += 1;
                        next_frame += FRAME_INTERVAL;
                    }
                    if peer.handle_input(Input::Timeout(now)).is_err() {
                        return;
                    }
                }
            }
        }
    });
    Ok(filming)
}

/// One high-layer frame, and a low-layer one every other time. The first payload byte is a
/// VP8 key frame's (P bit clear).
fn write_frames(peer: &mut Rtc, mid: str0m::media::Mid, now: Instant, start: Instant, frame: u64) {
    let t = MediaTime::from_90khz(now.duration_since(start).as_micros() as u64 * 9 / 100);
    for (rid, bytes) in [("h", HIGH_BYTES), ("l", LOW_BYTES)] {
        if rid == "l" && frame % 2 == 1 {
            continue;
        }
        let Some(w) = peer.writer(mid) else { return };
        let Some(pt) = w.payload_params().next().map(PayloadParams::pt) else {
            return;
        };
        let mut payload = vec![0x10];
        payload.resize(bytes, 0x55);
        let _ = w.rid(Rid::from(rid)).write(pt, now, t, payload);
    }
}
