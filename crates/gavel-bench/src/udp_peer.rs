//! The plumbing every str0m peer here shares: its UDP socket, datagrams in, its output out.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcError};
use tokio::net::UdpSocket;

/// A UDP socket on `ip` and a peer whose only candidate is that socket.
pub(crate) async fn bind(ip: IpAddr) -> Result<(Rtc, UdpSocket, SocketAddr), String> {
    let socket = UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| format!("cannot bind a UDP socket: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let mut peer = Rtc::builder().build(Instant::now());
    peer.add_local_candidate(Candidate::host(local, "udp").map_err(|e| e.to_string())?);
    Ok((peer, socket, local))
}

/// A datagram from `source` to the socket at `local`, as str0m's input (now); `None` for one
/// str0m cannot take.
pub(crate) fn received(local: SocketAddr, source: SocketAddr, data: &[u8]) -> Option<Input<'_>> {
    let contents = data.try_into().ok()?;
    Some(Input::Receive(
        Instant::now(),
        Receive {
            proto: Protocol::Udp,
            source,
            destination: local,
            contents,
        },
    ))
}

/// Sends everything the peer has to send and hands `event` its events, until it names its
/// next deadline.
pub(crate) async fn poll(
    rtc: &mut Rtc,
    socket: &UdpSocket,
    mut event: impl FnMut(Event),
) -> Result<Instant, RtcError> {
    loop {
        match rtc.poll_output()? {
            Output::Timeout(t) => return Ok(t),
            Output::Transmit(t) => {
                let _ = socket.send_to(&t.contents, t.destination).await;
            }
            Output::Event(e) => event(e),
        }
    }
}
