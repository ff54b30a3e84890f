//! ICE-TCP (RFC 6544): media over one TCP port for clients whose networks block UDP.
//!
//! Each connection carries RFC 4571 frames — a 2-byte big-endian length, then one STUN, DTLS,
//! RTP or RTCP packet — which are routed exactly like UDP datagrams (by ICE ufrag, then by the
//! connection's remote address). Frames to a client go out through its connection's bounded
//! queue; a full queue drops (media is loss-tolerant, and a slow client must not stall a room).
//! str0m leaves the framing to the application; it is a few lines, so it is written here.

use super::MediaPlane;
use gavel_media::str0m::net::Protocol;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Frames queued for one connection before further ones are dropped.
const CONNECTION_QUEUE: usize = 512;
/// Largest frame accepted: media packets fit a UDP datagram; anything larger is not ICE-TCP.
pub const MAX_FRAME: usize = 2048;
/// A connection that sends nothing for this long is closed (ICE sends consent checks every few
/// seconds while a session lives).
const IDLE: Duration = Duration::from_secs(30);

/// The open ICE-TCP connections, by the client's address.
#[derive(Default)]
pub struct Connections {
    by_addr: Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
}

impl Connections {
    /// Queues one frame for the connection from `to`; false if there is none or it is full.
    pub fn send(&self, to: SocketAddr, frame: &[u8]) -> bool {
        let tx = self.by_addr.lock().expect("tcp lock").get(&to).cloned();
        tx.is_some_and(|tx| tx.try_send(frame.to_vec()).is_ok())
    }

    fn len(&self) -> usize {
        self.by_addr.lock().expect("tcp lock").len()
    }
}

/// Accepts connections for as long as the server runs.
pub fn spawn_acceptor(plane: Arc<MediaPlane>, listener: TcpListener, local: SocketAddr) {
    tokio::spawn(async move {
        loop {
            let Ok((stream, remote)) = listener.accept().await else {
                continue;
            };
            if plane.tcp.len() >= plane.config.max_tcp_connections {
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let (tx, rx) = mpsc::channel(CONNECTION_QUEUE);
            plane
                .tcp
                .by_addr
                .lock()
                .expect("tcp lock")
                .insert(remote, tx);
            let p = plane.clone();
            tokio::spawn(async move {
                serve(&p, stream, remote, local, rx).await;
                p.tcp.by_addr.lock().expect("tcp lock").remove(&remote);
            });
        }
    });
}

async fn serve(
    plane: &MediaPlane,
    stream: TcpStream,
    remote: SocketAddr,
    local: SocketAddr,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let write = async move {
        while let Some(frame) = outgoing.recv().await {
            let len = (frame.len() as u16).to_be_bytes();
            if writer.write_all(&len).await.is_err() || writer.write_all(&frame).await.is_err() {
                return;
            }
        }
    };
    let read = async {
        let mut buf = vec![0u8; MAX_FRAME];
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(IDLE, reader.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let n = u16::from_be_bytes(len) as usize;
            if n == 0 || n > MAX_FRAME {
                return; // not ICE-TCP: close
            }
            if reader.read_exact(&mut buf[..n]).await.is_err() {
                return;
            }
            plane.deliver(Protocol::Tcp, remote, local, &buf[..n]);
        }
    };
    tokio::select! {
        _ = write => {}
        _ = read => {}
    }
}
