//! Running the real `gavel` binary in tests.
#![allow(dead_code)]

use super::WAIT;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_gavel");

/// A loopback port that was free a moment ago, for something to bind later. Taken below the
/// kernel's ephemeral range (32768 and up here), so no socket bound to port 0 meanwhile — a
/// server's, a client's — can take it first; never the same one twice in a process. (A port
/// the kernel picked for a bind to port 0 and released could be handed to the next such bind,
/// by this test or one running beside it.)
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap();
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = 20_000 + rand::random::<u16>() % 12_000;
        if given.contains(&port) {
            continue;
        }
        let tcp = std::net::TcpListener::bind(("127.0.0.1", port));
        let udp = std::net::UdpSocket::bind(("127.0.0.1", port));
        if tcp.is_ok() && udp.is_ok() {
            given.insert(port);
            return port;
        }
    }
}

/// `gavel` with a clean environment (no GAVEL_* variables leak in from the caller).
pub fn gavel(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("GAVEL_API_KEY")
        .env_remove("GAVEL_API_SECRET")
        .env_remove("GAVEL_BIND")
        .env("RUST_LOG", "info")
        .env("GAVEL_DATA_DIR", temp_dir("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A child process that is killed if the test fails before it exits.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Waits (generously) for the process to exit on its own.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "gavel did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Its stdout, line by line, read on a thread so the pipe never fills.
    pub fn stdout_lines(&mut self) -> mpsc::Receiver<String> {
        let out = self.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }
}

/// Reads stdout lines until one contains `needle`; returns every line read.
pub fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(WAIT) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(e) => panic!("no line with {needle:?} ({e}); got {seen:#?}"),
        }
    }
}

/// `gavel serve` on `port` with one API key and `data` as its data directory, once listening.
pub fn serve(data: &std::path::Path, port: u16, key: &str, secret: &str) -> Proc {
    let mut cmd = gavel(&["serve", "--bind", &format!("127.0.0.1:{port}")]);
    cmd.env("GAVEL_API_KEY", key)
        .env("GAVEL_API_SECRET", secret)
        .env("GAVEL_DATA_DIR", data);
    let mut p = Proc(cmd.spawn().expect("spawn gavel"));
    let lines = p.stdout_lines();
    wait_for_line(&lines, "listening");
    // Keep draining stdout so the pipe never fills.
    std::thread::spawn(move || while lines.recv().is_ok() {});
    p
}

impl Proc {
    /// `kill -9`: no shutdown path runs.
    pub fn kill9(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory under the system temp dir, unique to this call.
pub fn temp_dir(label: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("gavel-test-{}-{label}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
