//! A cluster started by `deploy/local-cluster`, the example deployment itself: a private
//! PostgreSQL and Redis and several `gavel` processes on loopback. Stopped (gracefully) when
//! dropped.
#![allow(dead_code)]

use super::process::{free_port, temp_dir, BIN};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// One node: its addresses and its process id (to signal it).
pub struct Node {
    pub http: String,
    pub ws: String,
    pub pid: u32,
}

impl Node {
    /// Sends `signal` (`-KILL`, `-STOP`, `-CONT`, `-TERM`) to the node's process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.pid);
    }
}

pub struct LocalCluster {
    pub nodes: Vec<Node>,
    pub dir: std::path::PathBuf,
    pub postgres: String,
    script: Child,
}

impl LocalCluster {
    /// Starts `n` nodes with a lease of `ttl_ms`, renewed every `heartbeat_ms`.
    pub fn start(n: usize, ttl_ms: u64, heartbeat_ms: u64) -> LocalCluster {
        let dir = temp_dir("cluster");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local-cluster");
        let ports: Vec<String> = (0..n).map(|_| free_port().to_string()).collect();
        let pg_port = free_port();
        let mut child = Command::new(script)
            .args(["--dir", dir.to_str().unwrap()])
            .args(["--ports", &ports.join(",")])
            .args(["--pg-port", &pg_port.to_string()])
            .args(["--redis-port", &free_port().to_string()])
            .args(["--lease-ttl-ms", &ttl_ms.to_string()])
            .args(["--heartbeat-ms", &heartbeat_ms.to_string()])
            .env("GAVEL_BIN", BIN)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run deploy/local-cluster");
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut nodes = Vec::new();
        for line in out.lines() {
            let line = line.expect("the script's output");
            if line == "ready" {
                break;
            }
            // node <n> http://127.0.0.1:<port> pid <pid>
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["node", _, http, "pid", pid] = words[..] {
                nodes.push(Node {
                    http: http.to_string(),
                    ws: http.replacen("http", "ws", 1),
                    pid: pid.parse().unwrap(),
                });
            }
        }
        assert_eq!(nodes.len(), n, "deploy/local-cluster started every node");
        LocalCluster {
            nodes,
            dir,
            postgres: format!("host=127.0.0.1 port={pg_port} user=gavel dbname=gavel"),
            script: child,
        }
    }

    /// Runs `sql` against the cluster's database (on a thread: the client is blocking).
    pub fn query(&self, sql: &'static str) -> Vec<postgres::Row> {
        let url = self.postgres.clone();
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            c.query(sql, &[]).unwrap()
        })
        .join()
        .unwrap()
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // A node stopped with SIGSTOP would never exit: wake every node first.
        for n in &self.nodes {
            let _ = Command::new("kill")
                .args(["-CONT", &n.pid.to_string()])
                .status();
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.script.id().to_string()])
            .status();
        let _ = self.script.wait();
    }
}
