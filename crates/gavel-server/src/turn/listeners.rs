//! The relay's sockets, each read on its own task into the relay's one queue: the UDP port,
//! the TLS port (a task per connection, which frames the stream into whole TURN messages),
//! and every relayed socket.

use super::framing::Framer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, Semaphore};

/// What the relay's task hears.
pub enum Input {
    /// A datagram on the TURN UDP port.
    Udp {
        from: SocketAddr,
        data: Vec<u8>,
    },
    /// A TLS client connected; its messages are written through `writer`.
    TcpOpened {
        client: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    /// One whole TURN message (or channel data) from a TLS client.
    Tcp {
        client: SocketAddr,
        data: Vec<u8>,
    },
    TcpClosed {
        client: SocketAddr,
    },
    /// A datagram on a relayed socket.
    Relayed {
        relay: SocketAddr,
        from: SocketAddr,
        data: Vec<u8>,
    },
}

/// Largest datagram or framed message read.
const MAX_MESSAGE: usize = 65_536 + 4;
/// At most this many TLS clients at once.
pub const MAX_TLS_CLIENTS: usize = 4096;
/// A TLS handshake that takes longer is abandoned.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn read_udp(socket: Arc<UdpSocket>, tx: mpsc::Sender<Input>) {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            // A full queue drops the datagram (as a congested network would): never block.
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Input::Udp {
                from,
                data: buf[..n].to_vec(),
            }) {
                return;
            }
        }
    });
}

pub fn read_relayed(
    socket: Arc<UdpSocket>,
    relay: SocketAddr,
    tx: mpsc::Sender<Input>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                continue;
            };
            let input = Input::Relayed {
                relay,
                from,
                data: buf[..n].to_vec(),
            };
            if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(input) {
                return;
            }
        }
    })
}

/// Accepts TLS clients on `listener`: each handshake and connection on its own task.
pub fn accept_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    tx: mpsc::Sender<Input>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let slots = Arc::new(Semaphore::new(MAX_TLS_CLIENTS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let Ok((tcp, client)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let Ok(Ok(tls)) =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                else {
                    return;
                };
                connection(tls, client, tx).await;
            });
        }
    });
}

/// One TLS client: its stream framed into TURN messages for the relay, and the relay's
/// answers written back.
async fn connection(
    tls: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    client: SocketAddr,
    tx: mpsc::Sender<Input>,
) {
    let (mut read, mut write) = tokio::io::split(tls);
    let (writer, mut outgoing) = mpsc::channel::<Vec<u8>>(256);
    if tx.send(Input::TcpOpened { client, writer }).await.is_err() {
        return;
    }
    let writing = tokio::spawn(async move {
        while let Some(bytes) = outgoing.recv().await {
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut framing = Framer::default();
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        framing.push(&buf[..n]);
        while let Some(message) = framing.next_message() {
            let Ok(data) = message else {
                break 'read; // not TURN: the connection ends
            };
            if tx.send(Input::Tcp { client, data }).await.is_err() {
                break 'read;
            }
        }
        // Bytes that never make a message (a message larger than any) end the connection
        // rather than grow the buffer.
        if framing.buffered() > MAX_MESSAGE {
            break;
        }
    }
    writing.abort();
    let _ = tx.send(Input::TcpClosed { client }).await;
}
