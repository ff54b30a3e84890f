//! A send-only audio peer for a server whose signalling is not Gavel's (Janus's VideoRoom):
//! it offers one Opus track, takes the answer from whatever carried the offer, then sends the
//! frames it is given, each with an RFC 6464 audio level, as `gavel_client::media::MediaPeer`
//! does for Gavel (that one needs a Gavel session to signal over).

use crate::udp_peer;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::{Event, Input, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

/// A peer that has offered and waits for the answer.
pub struct Offering {
    rtc: Rtc,
    pending: SdpPendingOffer,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    /// The offer's SDP, for the server.
    pub sdp: String,
}

/// A connected (or connecting) talker.
pub struct Talker {
    frames: mpsc::Sender<(Vec<u8>, i8)>,
    connected: watch::Receiver<bool>,
    /// The audio track's m-line id, as the offer named it (Janus's `moderate` wants it).
    pub mid: String,
}

impl Offering {
    /// Offers one send-only audio track from a UDP socket on `ip`.
    pub async fn new(ip: IpAddr) -> Result<Offering, String> {
        let (mut rtc, socket, local) = udp_peer::bind(ip).await?;
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or("nothing to offer")?;
        Ok(Offering {
            rtc,
            pending,
            socket,
            local,
            mid,
            sdp: offer.to_sdp_string(),
        })
    }

    /// Takes the server's answer and starts the peer's task.
    pub fn answered(mut self, answer: &str) -> Result<Talker, String> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| e.to_string())?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, answer)
            .map_err(|e| e.to_string())?;
        // A few frames of slack: the caller sends in real time and skips a late tick.
        let (frames, frames_rx) = mpsc::channel(64);
        let (connected_tx, connected) = watch::channel(false);
        let mid = self.mid.to_string();
        tokio::spawn(drive(
            self.rtc,
            self.socket,
            self.local,
            self.mid,
            frames_rx,
            connected_tx,
        ));
        Ok(Talker {
            frames,
            connected,
            mid,
        })
    }
}

impl Talker {
    /// Hands one frame to the peer; false once the peer has ended.
    pub async fn send(&self, data: Vec<u8>, level: i8) -> bool {
        self.frames.send((data, level)).await.is_ok()
    }

    /// Waits until ICE and DTLS are up, at most `timeout`.
    pub async fn connected(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.clone();
        let up = tokio::time::timeout(timeout, rx.wait_for(|up| *up)).await;
        matches!(up, Ok(Ok(_)))
    }
}

/// Runs the peer: socket in, timers, frames out. Ends when the [`Talker`] is dropped or str0m
/// gives up on the session.
async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mid: Mid,
    mut frames: mpsc::Receiver<(Vec<u8>, i8)>,
    connected: watch::Sender<bool>,
) {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    // str0m's timers start with a first tick: until then it reports no deadline and would
    // wait for the server's checks instead of sending its own.
    if rtc.handle_input(Input::Timeout(start)).is_err() {
        return;
    }
    loop {
        let polled = udp_peer::poll(&mut rtc, &socket, |event| {
            if let Event::Connected = event {
                let _ = connected.send(true);
            }
        })
        .await;
        let Ok(deadline) = polled else { return };
        let wait = deadline.saturating_duration_since(Instant::now());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                // Errors are ICMP reports for earlier sends: keep going.
                let Ok((n, source)) = r else { continue };
                let Some(input) = udp_peer::received(local, source, &buf[..n]) else { continue };
                if rtc.handle_input(input).is_err() {
                    return;
                }
            }
            frame = frames.recv() => {
                let Some((data, level)) = frame else { return };
                let now = Instant::now();
                if let Some(w) = rtc.writer(mid) {
                    // The answer's Opus payload type (the only codec offered for audio that
                    // both sides keep).
                    let pt = w.payload_params().next().map(PayloadParams::pt);
                    if let Some(pt) = pt {
                        let t = MediaTime::from_millis(now.duration_since(start).as_millis() as u64);
                        let _ = w.audio_level(level, level > -50).write(pt, now, t, data);
                    }
                }
            }
            _ = tokio::time::sleep(wait) => {}
        }
        if rtc.handle_input(Input::Timeout(Instant::now())).is_err() {
            return;
        }
    }
}
