//! Keeps the media scenario working: a small audio room (2 talkers, 6 subscribers of which 2
//! verify every frame) against an in-process server, checking that every line is reported,
//! every subscriber received, and nothing sent after the mute got through. Timing is not
//! asserted.

use gavel_server::config::Config;
use gavel_server::Server;

/// Runs `gavel-bench` with `args` against a fresh in-process server; its JSON lines.
async fn run_bench(args: &[&str]) -> Vec<serde_json::Value> {
    let server = Server::start(Config::dev("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let url = format!("http://{}", server.addr);
    // The server runs in this process: its CPU and RSS are this process's.
    let pid = std::process::id().to_string();
    let mut all: Vec<String> = vec!["--url".into(), url, "--server-pid".into(), pid];
    all.extend(args.iter().map(|a| a.to_string()));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gavel-bench"))
            .args(&all)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    server.shutdown(std::time::Duration::from_secs(5)).await;
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_audio_room_reports_every_line() {
    let lines = run_bench(&[
        "--scenario",
        "media",
        "-n",
        "6",
        "--publishers",
        "2",
        "--verifying",
        "2",
        "--interval",
        "1",
        "--timeout",
        "60",
    ])
    .await;
    let scenarios: Vec<&str> = lines
        .iter()
        .map(|l| l["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios,
        ["media-join", "media-memory", "media-forward", "media-mute"]
    );
    let (join, forward, mute) = (&lines[0], &lines[2], &lines[3]);
    assert_eq!(join["n"], 6, "{join}");
    assert_eq!(join["failed_joins"], 0.0, "{join}");
    assert!(
        forward["frames_received"].as_f64().unwrap() > 0.0,
        "{forward}"
    );
    // Every subscriber had heard the muted talker before the mute.
    assert_eq!(mute["n"], 6, "{mute}");
    assert_eq!(mute["sent_after_mute_delivered"], 0.0, "{mute}");
    assert_eq!(mute["late_frames"], 0.0, "{mute}");
}

/// The video scenario: one simulcast camera, 4 subscribers; both layers are forwarded, and the
/// high layer (after the pin) carries more packets than the low one. Rates are not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_video_room_reports_both_layers() {
    let lines = run_bench(&[
        "--scenario",
        "media-video",
        "-n",
        "4",
        "--interval",
        "1",
        "--timeout",
        "60",
    ])
    .await;
    let layers: Vec<&str> = lines
        .iter()
        .map(|l| {
            l["layer"]
                .as_str()
                .unwrap_or(l["scenario"].as_str().unwrap())
        })
        .collect();
    assert_eq!(layers, ["media-video-join", "low", "high"]);
    assert_eq!(lines[0]["n"], 4, "{}", lines[0]);
    let received = |l: &serde_json::Value| l["received_per_second"].as_f64().unwrap();
    assert!(received(&lines[1]) > 0.0, "{}", lines[1]);
    assert!(
        received(&lines[2]) > received(&lines[1]),
        "the high layer carries more: {} vs {}",
        lines[2],
        lines[1]
    );
}
