//! The media plane end to end with a third-party WebRTC stack: Python's aiortc (in the project's
//! `.venv`) runs tests/python/media_aiortc.py — real Opus audio from one aiortc peer to another
//! through the real `gavel` binary, a host mute that drops the packets of a client that keeps
//! sending, and the participant's own unmute.
//!
//! aiortc gathers no ICE candidates on loopback alone, so the server and the script run in a
//! private network namespace (`scripts/netns-run`: 10.77.0.1 and 10.77.0.2 on a veth pair);
//! nothing leaves the namespace. The server binds the wildcard address with no `[media]
//! advertise`, so its candidates are the addresses it discovers on the namespace's interfaces.

mod common;

use common::external::workspace_root;
use common::process::{temp_dir, BIN};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Everything (server start, the script, the server's shutdown) must be done by then.
const GLOBAL_TIMEOUT: Duration = Duration::from_secs(70);

/// Runs inside the namespace. The namespace is new for every run, so the server's ports (HTTP
/// 7880, media UDP 7882 and ICE-TCP 7881) are free by construction, whatever else runs on the
/// machine. Each step is bounded on its own; the server is stopped whatever the outcome, and
/// its log is shown when the script fails.
const SCRIPT: &str = r#"set -u
log=$(mktemp)
"$SERVER_BIN" dev --bind 0.0.0.0:7880 >"$log" 2>&1 &
server=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/10.77.0.1/7880) 2>/dev/null && break; sleep 0.1; done
GAVEL_WS=ws://10.77.0.1:7880 timeout 55 .venv/bin/python tests/python/media_aiortc.py
status=$?
kill -TERM $server 2>/dev/null
for _ in $(seq 50); do kill -0 $server 2>/dev/null || break; sleep 0.1; done
kill -KILL $server 2>/dev/null
wait $server 2>/dev/null
if [ $status -ne 0 ]; then echo "--- server log ---" >&2; cat "$log" >&2; fi
rm -f "$log"
exit $status"#;

#[test]
fn aiortc_peers_exchange_audio_and_a_host_mute_drops_the_packets() {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run ./scripts/test-env (./scripts/test does) first",
        python.display()
    );
    let mut cmd = Command::new(root.join("scripts/netns-run"));
    cmd.args(["bash", "-c", SCRIPT])
        .current_dir(&root)
        // Like common::process::gavel: no GAVEL_* configuration leaks in from the caller.
        .env_remove("GAVEL_API_KEY")
        .env_remove("GAVEL_API_SECRET")
        .env_remove("GAVEL_BIND")
        .env_remove("GAVEL_CONFIG")
        .env("SERVER_BIN", BIN)
        .env("GAVEL_DATA_DIR", temp_dir("aiortc-data"))
        .env("RUST_LOG", "info")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group: on a timeout the whole tree (netns-run, bash, the server,
        // Python) is killed at once, since nothing inside starts a group of its own.
        .process_group(0);
    let mut child = cmd.spawn().expect("run scripts/netns-run");
    // Read both pipes on threads so neither fills while we wait.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + GLOBAL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for netns-run") {
            break Some(status);
        }
        if Instant::now() > deadline {
            // Negative pid: the process group.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = stdout.join().unwrap();
    let stderr = stderr.join().unwrap();
    println!("{stdout}");
    eprintln!("{stderr}");
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("media_aiortc.py failed ({s}):\n{stdout}\n{stderr}"),
        None => panic!("not done within {GLOBAL_TIMEOUT:?}; killed:\n{stdout}\n{stderr}"),
    }
}
