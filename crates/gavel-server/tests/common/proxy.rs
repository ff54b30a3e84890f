//! A TCP proxy on loopback between a client and a server, whose connections a test can cut
//! (both sockets dropped at once, as a network that fails: no WebSocket close frame) and
//! which can refuse new ones (the network stays down).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct Proxy {
    /// `ws://…` of the proxy.
    pub ws: String,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    refusing: Arc<AtomicBool>,
    target: Arc<Mutex<SocketAddr>>,
}

impl Proxy {
    pub async fn start(server: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ws = format!("ws://{}", listener.local_addr().unwrap());
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let refusing = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(server));
        let (c, r, t) = (conns.clone(), refusing.clone(), target.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if r.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let server = *t.lock().unwrap();
                let task = tokio::spawn(async move {
                    let Ok(mut upstream) = TcpStream::connect(server).await else {
                        return;
                    };
                    let mut client = client;
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
                c.lock().unwrap().push(task);
            }
        });
        Proxy {
            ws,
            conns,
            refusing,
            target,
        }
    }

    /// Drops every connection through the proxy, both ends, with no close frame.
    pub fn cut(&self) {
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// New connections go to `server` (another node of a cluster).
    pub fn retarget(&self, server: SocketAddr) {
        *self.target.lock().unwrap() = server;
    }

    /// Refuses (`true`) or accepts new connections.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }
}
