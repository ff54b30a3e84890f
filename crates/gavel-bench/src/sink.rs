//! A lean receive-only media peer, so one process can hold hundreds of subscribers next to the
//! server it measures.
//!
//! Profiled at S = 100 (docs/benchmarks.md, "Media plane"), a full `MediaPeer` spends ~17 µs of
//! CPU per received audio packet: SRTP decryption, depacketizing, an event, a channel hop to
//! the reader, and a full str0m timeout pass after every datagram. That is more than the
//! server spends forwarding it, so on a shared 2-core machine the generator would set the pace.
//! Here str0m still runs ICE, DTLS and RTCP (the session stays a real, verified WebRTC session
//! for the server), but RTP datagrams never reach it: each is counted by its SSRC (the RTP
//! header is not encrypted), then dropped. The server does the same work either way; what a
//! sink cannot check (payload tags) the scenario checks on a few full `MediaPeer`s.
//!
//! Against a server that offers instead of answering (Janus's VideoRoom), a sink answers the
//! server's offer ([`Sink::answer`]); there it may also decrypt, standing in for the checking
//! `MediaPeer`s, which only speak Gavel's signalling.

use crate::udp_peer;
use gavel_client::core::Command;
use gavel_client::RtcClient;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind};
use str0m::{Event, Input, Rtc};
use tokio::net::UdpSocket;

/// What a sink reports, called from its task.
pub trait Recorder: Send + 'static {
    /// ICE and DTLS are up.
    fn connected(&mut self, at: Instant);
    /// One RTP datagram arrived on the stream `ssrc`.
    fn rtp(&mut self, at: Instant, ssrc: u32);
    /// The session ended (str0m gave up on it): why.
    fn ended(&mut self, why: String);
    /// A decrypted frame on receive slot `mid`: only from a sink that decrypts (see
    /// [`Sink::answer`]), whose RTP goes through str0m instead of [`Recorder::rtp`].
    fn frame(&mut self, _at: Instant, _mid: &str, _data: &[u8]) {}
}

pub struct Sink {
    /// The server's SSRC on each receive slot (mid → SSRC), from its answer: with the room's
    /// `media_slots` (mid → publisher) it says whose packets a datagram carries.
    pub ssrc_of_mid: HashMap<String, u32>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Sink {
    /// Offers `slots` audio receive slots over `rtc`'s session, from a UDP socket on `ip`.
    pub async fn open(
        rtc: &RtcClient,
        ip: IpAddr,
        slots: usize,
        recorder: impl Recorder,
    ) -> Result<Sink, String> {
        Self::open_kind(rtc, ip, MediaKind::Audio, slots, recorder).await
    }

    /// Offers `slots` receive slots of `kind`.
    pub async fn open_kind(
        rtc: &RtcClient,
        ip: IpAddr,
        kind: MediaKind,
        slots: usize,
        recorder: impl Recorder,
    ) -> Result<Sink, String> {
        let (mut peer, socket, local) = udp_peer::bind(ip).await?;
        let mut api = peer.sdp_api();
        for _ in 0..slots {
            api.add_media(kind, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().ok_or("nothing to offer")?;
        let reply = rtc
            .command(&Command::MediaOffer {
                sdp: offer.to_sdp_string(),
                tracks: Vec::new(),
            })
            .await
            .map_err(|e| e.to_string())?;
        let sdp = reply["sdp"].as_str().ok_or("the answer has no sdp")?;
        let ssrc_of_mid = ssrcs_by_mid(sdp);
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| e.to_string())?;
        peer.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(drive(peer, socket, local, false, recorder));
        Ok(Sink { ssrc_of_mid, task })
    }

    /// Answers a server's `offer` instead of making one (a server that offers its subscribers
    /// what they receive, as Janus's VideoRoom does); the answer's SDP goes back to the server
    /// by its own signalling. `ssrc_of_mid` then comes from the offer, where such a server names
    /// its streams. With `decrypt`, RTP goes through str0m and arrives as [`Recorder::frame`]
    /// (a checking subscriber, as a full `MediaPeer` is for Gavel); without, it is only counted.
    pub async fn answer(
        offer: &str,
        ip: IpAddr,
        decrypt: bool,
        recorder: impl Recorder,
    ) -> Result<(Sink, String), String> {
        let (mut peer, socket, local) = udp_peer::bind(ip).await?;
        let ssrc_of_mid = ssrcs_by_mid(offer);
        let offer = SdpOffer::from_sdp_string(offer).map_err(|e| e.to_string())?;
        let answer = peer
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        // A first tick starts str0m's timers (its ICE checks among them) before any datagram.
        peer.handle_input(Input::Timeout(Instant::now()))
            .map_err(|e| e.to_string())?;
        let task = tokio::spawn(drive(peer, socket, local, decrypt, recorder));
        Ok((Sink { ssrc_of_mid, task }, answer.to_sdp_string()))
    }
}

/// Runs the peer until it fails or the [`Sink`] is dropped. str0m is polled only for its own
/// traffic and timers; RTP is counted without waking it (and without re-arming the timer),
/// unless the sink `decrypt`s.
async fn drive(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    decrypt: bool,
    mut recorder: impl Recorder,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let polled = udp_peer::poll(&mut rtc, &socket, |event| match event {
            Event::Connected => recorder.connected(Instant::now()),
            Event::MediaData(d) => recorder.frame(Instant::now(), &d.mid.to_string(), &d.data),
            _ => {}
        })
        .await;
        let deadline = match polled {
            Ok(t) => t,
            Err(e) => return recorder.ended(e.to_string()),
        };
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                r = socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = r else { continue };
                    if let Some(ssrc) = rtp_ssrc(&buf[..n]).filter(|_| !decrypt) {
                        recorder.rtp(Instant::now(), ssrc);
                        continue;
                    }
                    let Some(input) = udp_peer::received(local, source, &buf[..n]) else { continue };
                    if let Err(e) = rtc.handle_input(input) {
                        return recorder.ended(e.to_string());
                    }
                    break;
                }
                _ = &mut sleep => {
                    if let Err(e) = rtc.handle_input(Input::Timeout(Instant::now())) {
                        return recorder.ended(e.to_string());
                    }
                    break;
                }
            }
        }
    }
}

/// The SSRC of an RTP datagram; `None` for STUN, DTLS and RTCP. RFC 7983: RTP and RTCP start
/// with a byte in 128..=191; RFC 5761: RTCP's packet type (the second byte) is in 192..=223,
/// where an RTP payload type with or without the marker bit never is (Opus here is 111).
fn rtp_ssrc(d: &[u8]) -> Option<u32> {
    if d.len() < 12 || !(128..=191).contains(&d[0]) || (192..=223).contains(&d[1]) {
        return None;
    }
    Some(u32::from_be_bytes(d[8..12].try_into().ok()?))
}

/// mid → the first `a=ssrc:` of its m-section.
fn ssrcs_by_mid(sdp: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut mid = None;
        let mut ssrc = None;
        for line in section.lines().map(str::trim_end) {
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.to_string());
            } else if let Some(rest) = line.strip_prefix("a=ssrc:") {
                ssrc = ssrc.or_else(|| rest.split_whitespace().next()?.parse().ok());
            }
        }
        if let (Some(mid), Some(ssrc)) = (mid, ssrc) {
            out.insert(mid, ssrc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtp_is_told_from_stun_dtls_and_rtcp() {
        let mut rtp = [0u8; 20];
        rtp[0] = 0x80;
        rtp[1] = 111 | 0x80; // Opus with the marker bit
        rtp[8..12].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        assert_eq!(rtp_ssrc(&rtp), Some(0xdead_beef));
        let mut rtcp = rtp;
        rtcp[1] = 200; // sender report
        assert_eq!(rtp_ssrc(&rtcp), None);
        let mut dtls = rtp;
        dtls[0] = 22;
        assert_eq!(rtp_ssrc(&dtls), None);
        assert_eq!(rtp_ssrc(&[0, 1, 0, 0]), None); // STUN, and short
    }

    #[test]
    fn the_answer_names_an_ssrc_per_mid() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a\r\na=sendonly\r\n\
            a=ssrc:11 cname:x\r\na=ssrc:11 msid:y z\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:b\r\na=ssrc:22 cname:x\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:c\r\na=inactive\r\n";
        let m = ssrcs_by_mid(sdp);
        assert_eq!(m.get("a"), Some(&11));
        assert_eq!(m.get("b"), Some(&22));
        assert_eq!(m.get("c"), None);
    }
}
