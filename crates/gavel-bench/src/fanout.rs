//! One room filled by several generator processes (`--scenario fanout`): a process may hold
//! 20,000 files here, fewer than the sockets of a 40,000-person room. The coordinator starts
//! `--shards` copies of this program (`fanout-shard`), each joining its share of `-n` through
//! one of `--join-urls` (a cluster's nodes, or `ws-limit` processes). Once every shard's clients
//! are in and watching, it fires one mute-all — through the server API at `--url`, or with
//! `--target limit` on every `ws-limit` process at once — and each shard reports the wall-clock
//! time each of its clients saw the event. Latencies run from the coordinator's clock just before
//! the call: one machine, one clock. Against Gavel it also counts the bus messages the owner
//! (`--url`) sent to its edges for that one event (`gavel_cluster_edge_messages_total`).

use crate::clients::Crowd;
use crate::report::Report;
use crate::Args;
use gavel_client::{AccessToken, ApiClient};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// What the event's frame contains (Gavel's and `ws-limit`'s alike).
const PATTERN: &str = "\"all\":true";

fn unix_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}

/// A shard: joins `-n` clients through the first of `--join-urls`, says `ready` once they all
/// watch for the event, then prints `{"times_us": […]}` (when each saw it, Unix microseconds) and
/// stays connected until its standard input closes, so no one leaves while others measure.
pub async fn shard(args: &Args, room: &str) -> Result<(), String> {
    let timeout = Duration::from_secs(args.timeout);
    let url = urls(args)[0].clone();
    let ws = vec![url.replacen("http", "ws", 1)];
    let crowd = Crowd::join(&args.url, &ws, args, room, timeout).await?;
    crowd.probes().arm(PATTERN).await;
    let (base, base_wall) = (Instant::now(), SystemTime::now());
    println!("ready");
    let times = crowd.probes().collect("fanout", args.n, timeout).await?;
    let times_us: Vec<u64> = times
        .iter()
        .map(|t| unix_us(base_wall + t.saturating_duration_since(base)))
        .collect();
    println!("{}", serde_json::json!({ "times_us": times_us }));
    let mut rest = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut rest).await;
    Ok(())
}

fn urls(args: &Args) -> Vec<String> {
    args.join_urls
        .as_deref()
        .unwrap_or(&args.url)
        .split(',')
        .map(|u| u.trim().to_string())
        .collect()
}

/// The coordinator (see the module's documentation).
pub async fn coordinate(args: &Args) -> Result<(), String> {
    let urls = urls(args);
    let limit = args.target == "limit";
    let shards = args.shards.max(1);
    let per = args.n / shards;
    let room = args
        .room
        .clone()
        .unwrap_or_else(|| format!("fanout-{}", std::process::id()));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Shards(Vec::new());
    let mut outputs = Vec::new();
    for k in 0..shards {
        let url = &urls[k % urls.len()];
        // Each ws-limit process is its own "room": its clients see only its own count.
        let (api, total) = if limit {
            (url.as_str(), per)
        } else {
            (args.url.as_str(), per * shards)
        };
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--scenario",
            "fanout-shard",
            "--url",
            api,
            "--join-urls",
            url,
        ])
        .args(["--room", &room, "-n", &per.to_string()])
        .args(["--room-total", &total.to_string()])
        .args(["--timeout", &args.timeout.to_string()])
        .args(["--concurrency", &args.concurrency.to_string()])
        .args(["--key", &args.key, "--secret", &args.secret]);
        if let Some(l) = args.listed_limit {
            cmd.args(["--listed-limit", &l.to_string()]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start a shard: {e}"))?;
        outputs.push(lines(child.stdout.take().expect("piped")));
        children.0.push(child);
    }
    let deadline = Duration::from_secs(args.timeout);
    for (k, out) in outputs.iter_mut().enumerate() {
        let line = next_line(out, deadline).await?;
        if line != "ready" {
            return Err(format!("shard {k} said {line:?} instead of ready"));
        }
    }
    let api = ApiClient::new(
        &args.url,
        &AccessToken::new(&args.key, &args.secret)
            .admin(None)
            .to_jwt(),
    );
    let sent = || async {
        let text = api.call("GET", "/metrics", None).await.ok()?;
        let line = "gavel_cluster_edge_messages_total{direction=\"sent\"}";
        text.as_str()?
            .lines()
            .find_map(|l| l.strip_prefix(line)?.trim().parse::<f64>().ok())
    };
    let before = if limit { None } else { sent().await };
    let started = unix_us(SystemTime::now());
    if limit {
        let calls = urls.iter().map(|u| {
            let api = ApiClient::new(u, "");
            let room = room.clone();
            async move { api.mute_all(&room, "microphone", &[]).await }
        });
        for r in futures_util::future::join_all(calls).await {
            r.map_err(|e| e.to_string())?;
        }
    } else {
        api.mute_all(&room, "microphone", &[])
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut samples = Vec::with_capacity(args.n);
    for out in outputs.iter_mut() {
        let line = next_line(out, deadline).await?;
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
        for t in v["times_us"].as_array().into_iter().flatten() {
            let t = t.as_u64().unwrap_or(0);
            samples.push(t.saturating_sub(started) as f64 / 1000.0);
        }
    }
    let mut r = Report::from_millis("fanout", samples);
    r.extra("shards", shards as f64);
    r.set(
        "target",
        serde_json::json!(if limit { "limit" } else { "gavel" }),
    );
    if let (Some(b), Some(a)) = (before, sent().await) {
        // Each edge hears one message per event; the owner is one of the join URLs.
        r.extra("bus_messages", a - b);
        r.extra("edges", (urls.len() - 1) as f64);
    }
    r.print();
    // Closing their input lets the shards leave.
    for child in &mut children.0 {
        drop(child.stdin.take());
    }
    tokio::task::spawn_blocking(move || {
        for child in &mut children.0 {
            let _ = child.wait();
        }
    })
    .await
    .map_err(|e| e.to_string())
}

/// The shards' processes, killed if the coordinator gives up before they are done.
struct Shards(Vec<Child>);

impl Drop for Shards {
    fn drop(&mut self) {
        for child in &mut self.0 {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
        }
    }
}

/// A shard's output lines, read on a thread of their own (this tool's tokio has no process
/// support, and needs none elsewhere).
fn lines(out: std::process::ChildStdout) -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines() {
            match line {
                Ok(l) => {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    });
    rx
}

async fn next_line(
    out: &mut mpsc::UnboundedReceiver<String>,
    within: Duration,
) -> Result<String, String> {
    match tokio::time::timeout(within, out.recv()).await {
        Ok(Some(line)) => Ok(line),
        Ok(None) => Err("a shard ended early (its error is above)".into()),
        Err(_) => Err("a shard did not answer in time".into()),
    }
}
