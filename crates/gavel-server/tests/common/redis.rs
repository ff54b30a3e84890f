//! A private Redis server for one test: Debian's `redis-server` (installed by scripts/test-env)
//! on a free loopback port, without persistence, stopped when the value is dropped; it can be
//! stopped and started again on the same port to test recovery.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Redis {
    pub port: u16,
    child: Mutex<Option<Child>>,
}

impl Redis {
    pub fn start() -> Redis {
        let redis = Redis {
            port: super::process::free_port(),
            child: Mutex::new(None),
        };
        redis.run();
        redis
    }

    /// Starts the server (again); waits until it accepts connections.
    pub fn run(&self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test-env installs it)");
        *self.child.lock().unwrap() = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server accepts connections"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (`kill -9`): every connection drops.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}
