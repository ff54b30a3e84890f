//! A TLS listener for axum: TCP connections accepted and their handshakes run on their own
//! tasks, so a client that stalls mid-handshake never delays anyone else's connection.
//!
//! axum's `serve` accepts one connection at a time from its [`Listener`]; doing the handshake
//! inside `accept` would let one slow or malicious client hold up every new connection. Here a
//! task accepts TCP and spawns each handshake (bounded in time and in number); finished ones
//! wait in a short queue for `serve`.

use axum::serve::Listener;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A handshake that takes longer than this is abandoned.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many handshakes at once; more connections wait in the kernel's backlog.
pub const MAX_HANDSHAKES: usize = 1024;

pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// Ends once the accepting task has closed the TCP listener (after the server stopped
/// serving): awaited on shutdown, so the port is free when the server says it stopped.
pub type Accepting = tokio::task::JoinHandle<()>;

impl TlsListener {
    /// Serves TLS on `tcp` with `config`. Connections get `TCP_NODELAY`, as plain ones do.
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<(TlsListener, Accepting)> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let acceptor = TlsAcceptor::from(config);
        let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                // The server stopped serving (its listener was dropped): the port is released.
                let accepted = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, as axum does.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if tx.is_closed() {
                    return; // the server stopped serving
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(mut tls)) => {
                            // An ACME validation: it has checked the certificate; it is never
                            // served HTTP.
                            if tls.get_ref().1.alpn_protocol() == Some(super::acme::ACME_TLS_ALPN) {
                                use tokio::io::AsyncWriteExt;
                                let _ = tls.shutdown().await;
                                return;
                            }
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok((TlsListener { ready, local }, accepting))
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(x) => x,
            // The accepting task only ends with the process (or a closed semaphore): wait.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
