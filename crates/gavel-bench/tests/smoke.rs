//! Keeps the generator working: a small run (N = 200) against an in-process server, every
//! scenario, checking that each reports all of its clients. Timing is not asserted.

use gavel_server::config::Config;
use gavel_server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_with_200_participants() {
    let server = Server::start(Config::dev("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let url = format!("http://{}", server.addr);
    let pid = std::process::id().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gavel-bench"))
            .args([
                "--url",
                &url,
                "-n",
                "200",
                "--timeout",
                "60",
                "--server-pid",
                &pid,
            ])
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
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let scenarios: Vec<&str> = lines
        .iter()
        .map(|l| l["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        scenarios,
        [
            "join",
            "memory",
            "active-speaker",
            "mute-all",
            "mute",
            "kick",
            "kick-ban"
        ]
    );
    for l in &lines {
        let expected = match l["scenario"].as_str() {
            Some("kick") => 199,
            Some("kick-ban") => 198,
            // Every client saw each of the 8 rounds' new loudest talker come first.
            Some("active-speaker") => 8 * 200,
            _ => 200,
        };
        assert_eq!(l["n"], expected, "{l}");
    }
    server.shutdown(std::time::Duration::from_secs(5)).await;
}
