//! `gavel-bench`: opens N WebSocket participants in one room and measures how long moderation
//! takes to reach all of them.
//!
//! Scenarios (`--scenario`, default `all`):
//! - `join`: N joins; time until every client holds a consistent view (`present == N`), joins/s.
//! - `mute-all`: one server-API mute-all; latency from the call to each client's event.
//! - `mute`, `kick`: one single-target action; latency to each client.
//! - `kick-ban`: a kick with a ban, the durable path (the room decides on a copy of itself, the
//!   ban is committed, then the kick applies); latency to each client.
//! - `speaker`: active-speaker churn, 50 talkers sending levels every 50 ms (`churn.rs`).
//! - `memory`: server RSS per connected participant (needs `--server-pid`).
//! - `media` (not part of `all`): an audio room on the media plane, `--publishers` talkers and
//!   `-n` receive-only subscribers, each a str0m peer in this process; server CPU per forwarded
//!   packet, join-to-first-audio, memory per media session, mute-to-silence (`media.rs`; needs
//!   `--server-pid`).
//! - `media-video` (run alone): one simulcast camera and `-n` subscribers with one video slot
//!   each; server CPU per sent datagram on the low layer, then on the high one after a pin
//!   (`media_video.rs`; needs `--server-pid`).
//!
//! - `fanout` (run alone): one room filled by `--shards` generator processes, one per
//!   `--join-urls` entry in turn, and one mute-all; latency to every client of every shard, and
//!   against a cluster the bus messages the owner sent for it (`fanout.rs`). `--target limit`
//!   runs the same against `ws-limit` processes (the raw-socket limit).
//!
//! `--target janus` runs the join storm, memory and a kick against Janus's VideoRoom instead
//! (`janus.rs`), for the side-by-side comparison; with `--scenario media`, the audio room
//! against Janus's VideoRoom forwarding (`janus_media.rs`; `--url` is Janus's WebSocket).
//!
//! Each scenario prints one JSON line: count, p50/p95/p99/max in milliseconds, and rates.

mod churn;
mod clients;
mod fanout;
mod janus;
mod janus_media;
mod media;
mod media_report;
mod media_video;
mod probe;
mod report;
mod sink;
mod talker;
mod udp_peer;

use clap::Parser;
use gavel_client::{AccessToken, ApiClient};
use report::Report;
use std::time::{Duration, Instant};

#[derive(Parser, Clone)]
#[command(
    name = "gavel-bench",
    about = "Fan-out benchmarks for a running Gavel server"
)]
pub struct Args {
    /// Server HTTP URL.
    #[arg(long, default_value = "http://127.0.0.1:7880")]
    url: String,
    #[arg(long, default_value = "devkey")]
    key: String,
    #[arg(long, default_value = "secret")]
    secret: String,
    /// Where the participants' sockets go: comma-separated server URLs, taken in turn (a
    /// cluster's nodes); default: `--url`.
    #[arg(long)]
    join_urls: Option<String>,
    /// failover: the process id of the node that owns the room, killed (SIGKILL) to measure
    /// how long until every participant holds the new owner's snapshot.
    #[arg(long)]
    owner_pid: Option<u32>,
    /// fanout: generator processes filling the room together (each holds `n / shards` sockets).
    #[arg(long, default_value_t = 1)]
    shards: usize,
    /// How many are in the room when everyone is (default: `n`); set by `fanout` for its shards.
    #[arg(long, hide = true)]
    room_total: Option<usize>,
    /// Participants (for `media`: subscribers).
    #[arg(short, long, default_value_t = 100)]
    n: usize,
    /// join | speaker | mute-all | mute | kick | kick-ban | memory | all, or media or failover
    /// (run alone)
    #[arg(long, default_value = "all")]
    scenario: String,
    /// gavel, or janus (a Janus VideoRoom at --url, e.g. http://127.0.0.1:8188; with
    /// `--scenario media`, Janus's media forwarding), or limit (`fanout` against `ws-limit`
    /// processes at --join-urls).
    #[arg(long, default_value = "gavel")]
    target: String,
    /// Room name (a fresh one per run by default).
    #[arg(long)]
    room: Option<String>,
    /// The server's process id, for the memory scenario.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Concurrent connection attempts during the join storm.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// The room's `listed_limit` (default: the server's).
    #[arg(long)]
    listed_limit: Option<u32>,
    /// Give up on a scenario after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// media: talking publishers (each also the size of every subscriber's slot budget).
    #[arg(long, default_value_t = 10)]
    publishers: usize,
    /// media: seconds of the measured interval.
    #[arg(long, default_value_t = 10)]
    interval: u64,
    /// media: the local IP of the generator's UDP sockets (must reach the server's media port).
    #[arg(long, default_value = "127.0.0.1")]
    media_ip: std::net::IpAddr,
    /// media: subscribers that decrypt and check every frame (full `MediaPeer`s); the others
    /// only count packets, so the generator stays cheaper than the server it measures.
    #[arg(long, default_value_t = 20)]
    verifying: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(args).await {
        eprintln!("gavel-bench: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    if args.scenario == "media-video" {
        raise_fd_limit(2 * (args.n + 1));
        return media_video::run(&args).await;
    }
    if args.scenario == "media" {
        // Each media participant holds a TCP and a UDP socket here.
        raise_fd_limit(2 * (args.n + args.publishers));
        if args.target == "janus" {
            return janus_media::run(&args).await;
        }
        return media::run(&args).await;
    }
    if args.scenario == "fanout" {
        return fanout::coordinate(&args).await;
    }
    raise_fd_limit(args.n);
    if args.scenario == "fanout-shard" {
        let room = args.room.clone().ok_or("a shard needs --room")?;
        return fanout::shard(&args, &room).await;
    }
    if args.target == "janus" {
        return janus::run(&args, Duration::from_secs(args.timeout)).await;
    }
    let room = args
        .room
        .clone()
        .unwrap_or_else(|| format!("bench-{}", std::process::id()));
    let api = ApiClient::new(
        &args.url,
        &AccessToken::new(&args.key, &args.secret)
            .admin(None)
            .to_jwt(),
    );
    let all = args.scenario == "all";
    let timeout = Duration::from_secs(args.timeout);
    let ws: Vec<String> = args
        .join_urls
        .as_deref()
        .unwrap_or(&args.url)
        .split(',')
        .map(|u| u.trim().replacen("http", "ws", 1))
        .collect();

    // Idle memory is the growth from here: the server's own baseline is not per participant.
    let baseline = args.server_pid.and_then(report::rss_kib);
    // Every scenario needs the room full; the join storm is measured while filling it.
    let started = Instant::now();
    let crowd = clients::Crowd::join(&args.url, &ws, &args, &room, timeout).await?;
    let join = crowd.join_report(started);
    if all || args.scenario == "join" {
        join.print();
    }
    if all || args.scenario == "memory" {
        if let Some(pid) = args.server_pid {
            // Idle: let queues drain and the coalesced counts go out first.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let rss = report::rss_kib(pid).ok_or("cannot read the server's RSS")?;
            let growth = rss.saturating_sub(baseline.unwrap_or(0));
            println!(
                "{}",
                serde_json::json!({"scenario": "memory", "n": args.n, "server_rss_kib": rss,
                    "baseline_rss_kib": baseline,
                    "kib_per_participant": growth as f64 / args.n as f64})
            );
        } else if args.scenario == "memory" {
            return Err("the memory scenario needs --server-pid".into());
        }
    }
    let (probes, everyone) = (crowd.probes(), args.n);
    if all || args.scenario == "speaker" {
        churn::run(&crowd, args.n, timeout).await?.print();
    }
    if all || args.scenario == "mute-all" {
        let cpu = |pid: Option<u32>| pid.and_then(report::cpu_ms);
        let me = Some(std::process::id());
        let before = (cpu(me), cpu(args.server_pid));
        let mut r = probes
            .measure("mute-all", "\"all\":true", everyone, timeout, || async {
                api.mute_all(&room, "microphone", &[])
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .await?;
        // CPU each side spent while the event went out (10 ms resolution).
        if let (Some(g0), Some(g1)) = (before.0, cpu(me)) {
            r.extra("generator_cpu_ms", g1 - g0);
        }
        if let (Some(s0), Some(s1)) = (before.1, cpu(args.server_pid)) {
            r.extra("server_cpu_ms", s1 - s0);
        }
        r.print();
    }
    if all || args.scenario == "mute" {
        let target = crowd.identity(0);
        let r = probes
            .measure("mute", "\"muted\":false", everyone, timeout, || async {
                // Remote unmute under `force` reaches everyone like a mute does.
                api.mute(&room, &target, "microphone", false)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .await?;
        r.print();
    }
    if all || args.scenario == "kick" {
        // A speaker: its leaving is announced to everyone (an unlisted viewer's is not).
        let target = crowd.identity(clients::PUBLISHERS.min(args.n) - 1);
        // Everyone but the one removed.
        let r = probes
            .measure(
                "kick",
                "\"type\":\"participant_left\"",
                everyone - 1,
                timeout,
                || async {
                    api.remove(&room, &target, None)
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                },
            )
            .await?;
        r.print();
    }
    if (all || args.scenario == "kick-ban") && args.n >= 3 {
        // Another speaker, kicked with a ban: what a durable command costs in this room.
        let target = crowd.identity(clients::PUBLISHERS.min(args.n) - 2);
        let r = probes
            .measure(
                "kick-ban",
                "\"type\":\"participant_left\"",
                everyone - 2,
                timeout,
                || async {
                    api.remove(&room, &target, Some(600))
                        .await
                        .map(drop)
                        .map_err(|e| e.to_string())
                },
            )
            .await?;
        r.print();
    }
    if args.scenario == "failover" {
        // Cluster mode: the owner dies; every participant (all on other nodes) is admitted
        // again by its edge, and holds the new owner's `joined` snapshot.
        let pid = args
            .owner_pid
            .ok_or("the failover scenario needs --owner-pid")?;
        let r = probes
            .measure(
                "failover",
                "\"type\":\"joined\"",
                everyone,
                timeout,
                || async {
                    let killed = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status()
                        .map_err(|e| e.to_string())?;
                    killed
                        .success()
                        .then_some(())
                        .ok_or_else(|| format!("kill -KILL {pid} failed"))
                },
            )
            .await?;
        r.print();
        return Ok(());
    }
    let _ = api.delete_room(&room).await;
    Ok(())
}

/// Raises the soft open-files limit to the hard one (each participant is one socket).
fn raise_fd_limit(n: usize) {
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get() {
        if soft < hard {
            let _ = rlimit::Resource::NOFILE.set(hard, hard);
        }
        if (hard as usize) < n + 64 {
            eprintln!("gavel-bench: warning: open-files limit {hard} is below {n} participants");
        }
    }
}

impl Report {
    fn print(&self) {
        println!("{}", self.to_json());
    }
}
