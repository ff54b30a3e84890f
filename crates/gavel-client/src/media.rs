//! A participant's media session (feature `media`): a WebRTC peer on str0m that publishes
//! tracks and receives what the server forwards into its receive slots.
//!
//! The signalling goes over the participant's [`RtcClient`]: the peer offers (its tracks as
//! `sendonly` m-lines, plus `recvonly` slots), the server answers, and `media_slots` events say
//! which slot carries whose track. A task drives the peer on its own UDP socket.
//!
//! In cluster mode a participant's media session can end while it stays in the room (a move
//! into a room another node serves, or that node taking its room over): the room says so with
//! `media_session_ended`, and [`MediaPeer::reopen`] opens the same session again with the node
//! serving the room now, after the `joined` that follows.
//!
//! After the signalling connection resumed ([`RtcClient::resumes`]), [`MediaPeer::restart_ice`]
//! restarts ICE (new credentials both ways, the same socket and tracks): what a client whose
//! network changed needs for its media to find the server again.

use crate::rtc::RtcClient;
use gavel_core::{Error, ErrorCode, OfferedTrack, Source};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::PayloadParams;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, Mutex};

/// The WebRTC stack under [`MediaPeer`], for callers that negotiate by hand.
pub use str0m;

/// What the peer reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// ICE and DTLS are up.
    Connected,
    /// A frame arrived on receive slot `mid`.
    Frame {
        mid: String,
        data: Vec<u8>,
        /// RFC 6464 level the server forwarded with it (negative dBov), if any.
        audio_level: Option<i8>,
    },
}

enum PeerCmd {
    Write {
        mid: Mid,
        data: Vec<u8>,
        audio_level: Option<i8>,
    },
    /// An offer that restarts ICE; the peer keeps it pending for [`PeerCmd::Answer`].
    RestartIce(oneshot::Sender<Option<String>>),
    Answer(String, oneshot::Sender<Result<(), String>>),
}

/// A track this peer publishes: its m-line and the room's track sid.
#[derive(Debug, Clone)]
pub struct PublishedTrack {
    pub mid: String,
    pub source: Source,
    pub sid: String,
}

pub struct MediaPeer {
    cmd: mpsc::Sender<PeerCmd>,
    events: Mutex<mpsc::Receiver<PeerEvent>>,
    pub tracks: Vec<PublishedTrack>,
    /// The receive slots this peer offered, in order.
    pub slots: Vec<String>,
    pub local: SocketAddr,
    /// How it was opened, for [`MediaPeer::reopen`].
    opened: Opened,
    /// The server's ICE ufrag now (an ICE restart changes it).
    server_ufrag: String,
}

#[derive(Debug, Clone)]
struct Opened {
    tcp: bool,
    bind_ip: IpAddr,
    publish: Vec<Source>,
    audio_slots: usize,
    video_slots: usize,
}

fn err(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Internal, message)
}

impl MediaPeer {
    /// Opens a media session for `rtc`'s participant on a UDP socket bound to `bind_ip`:
    /// publishes `publish`, and offers `audio_slots` + `video_slots` receive slots.
    pub async fn open(
        rtc: &RtcClient,
        bind_ip: IpAddr,
        publish: &[Source],
        audio_slots: usize,
        video_slots: usize,
    ) -> Result<MediaPeer, Error> {
        let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0))
            .await
            .map_err(|e| err(format!("cannot bind a UDP socket: {e}")))?;
        let local = socket.local_addr().map_err(|e| err(e.to_string()))?;
        let candidate = Candidate::host(local, "udp").map_err(|e| err(e.to_string()))?;
        let opened = Opened {
            tcp: false,
            bind_ip,
            publish: publish.to_vec(),
            audio_slots,
            video_slots,
        };
        Self::negotiate(rtc, candidate, Net::Udp(socket), local, opened).await
    }

    /// Opens the same media session again — the same tracks and slots, on a new socket — after
    /// `media_session_ended` (this one is closed). Call it once the `joined` that follows has
    /// arrived: the offer goes to the node serving the room now.
    pub async fn reopen(self, rtc: &RtcClient) -> Result<MediaPeer, Error> {
        let o = self.opened.clone();
        drop(self);
        if o.tcp {
            Self::open_tcp(rtc, o.bind_ip, &o.publish, o.audio_slots, o.video_slots).await
        } else {
            Self::open(rtc, o.bind_ip, &o.publish, o.audio_slots, o.video_slots).await
        }
    }

    /// Like [`MediaPeer::open`], over ICE-TCP only (an active TCP candidate: the peer connects
    /// to the server's passive one), as a client on a network that blocks UDP would.
    pub async fn open_tcp(
        rtc: &RtcClient,
        bind_ip: IpAddr,
        publish: &[Source],
        audio_slots: usize,
        video_slots: usize,
    ) -> Result<MediaPeer, Error> {
        // Active candidates carry the discard port, as browsers write them.
        let local = SocketAddr::new(bind_ip, 9);
        let candidate = Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .map_err(|e| err(e.to_string()))?;
        let net = Net::Tcp {
            writer: None,
            frames: None,
        };
        let opened = Opened {
            tcp: true,
            bind_ip,
            publish: publish.to_vec(),
            audio_slots,
            video_slots,
        };
        Self::negotiate(rtc, candidate, net, local, opened).await
    }

    async fn negotiate(
        rtc: &RtcClient,
        candidate: Candidate,
        net: Net,
        local: SocketAddr,
        opened: Opened,
    ) -> Result<MediaPeer, Error> {
        let (publish, audio_slots, video_slots) =
            (&opened.publish, opened.audio_slots, opened.video_slots);
        let mut peer = Rtc::builder().build(Instant::now());
        peer.add_local_candidate(candidate);
        let mut api = peer.sdp_api();
        let mut offered = Vec::new();
        for &source in publish.iter() {
            let kind = match source {
                Source::Microphone | Source::ScreenAudio => MediaKind::Audio,
                Source::Camera | Source::ScreenVideo => MediaKind::Video,
            };
            let mid = api.add_media(kind, Direction::SendOnly, None, None, None);
            offered.push(OfferedTrack {
                mid: mid.to_string(),
                source,
            });
        }
        let mut slots = Vec::new();
        for kind in std::iter::repeat_n(MediaKind::Audio, audio_slots)
            .chain(std::iter::repeat_n(MediaKind::Video, video_slots))
        {
            slots.push(
                api.add_media(kind, Direction::RecvOnly, None, None, None)
                    .to_string(),
            );
        }
        let (offer, pending) = api.apply().ok_or_else(|| err("nothing to offer"))?;
        let reply = rtc
            .command(&gavel_core::Command::MediaOffer {
                sdp: offer.to_sdp_string(),
                tracks: offered,
            })
            .await?;
        let sdp = reply["sdp"]
            .as_str()
            .ok_or_else(|| err("the answer has no sdp"))?;
        let server_ufrag = ice_ufrag(sdp);
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| err(e.to_string()))?;
        peer.sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| err(e.to_string()))?;
        let tracks = reply["tracks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(PublishedTrack {
                    mid: t["mid"].as_str()?.to_string(),
                    source: serde_json::from_value(t["track"]["source"].clone()).ok()?,
                    sid: t["track"]["sid"].as_str()?.to_string(),
                })
            })
            .collect();
        let (cmd, cmd_rx) = mpsc::channel(256);
        let (ev_tx, events) = mpsc::channel(4096);
        tokio::spawn(drive(peer, net, local, cmd_rx, ev_tx));
        Ok(MediaPeer {
            cmd,
            events: Mutex::new(events),
            tracks,
            slots,
            local,
            opened,
            server_ufrag,
        })
    }

    /// The server's ICE ufrag for this session now.
    pub fn server_ufrag(&self) -> &str {
        &self.server_ufrag
    }

    /// Restarts ICE on this session: an offer with new credentials and the same tracks and
    /// slots goes to the server, whose answer brings its new ones. Call it after the
    /// signalling connection resumed ([`RtcClient::resumes`]).
    pub async fn restart_ice(&mut self, rtc: &RtcClient) -> Result<(), Error> {
        let (tx, rx) = oneshot::channel();
        let closed = || err("the media peer has stopped");
        self.cmd
            .send(PeerCmd::RestartIce(tx))
            .await
            .map_err(|_| closed())?;
        let sdp = rx
            .await
            .map_err(|_| closed())?
            .ok_or_else(|| err("nothing to offer"))?;
        let tracks = self
            .tracks
            .iter()
            .map(|t| OfferedTrack {
                mid: t.mid.clone(),
                source: t.source,
            })
            .collect();
        let reply = rtc
            .command(&gavel_core::Command::MediaOffer { sdp, tracks })
            .await?;
        let answer = reply["sdp"]
            .as_str()
            .ok_or_else(|| err("the answer has no sdp"))?
            .to_string();
        let ufrag = ice_ufrag(&answer);
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(PeerCmd::Answer(answer, tx))
            .await
            .map_err(|_| closed())?;
        rx.await.map_err(|_| closed())?.map_err(err)?;
        self.server_ufrag = ufrag;
        Ok(())
    }

    /// Sends one frame on the track of `source` (an Opus packet's worth for audio).
    pub async fn send(&self, source: Source, data: Vec<u8>, audio_level: Option<i8>) -> bool {
        let Some(t) = self.tracks.iter().find(|t| t.source == source) else {
            return false;
        };
        self.cmd
            .send(PeerCmd::Write {
                mid: Mid::from(t.mid.as_str()),
                data,
                audio_level,
            })
            .await
            .is_ok()
    }

    /// The next event, or `None` after `timeout`.
    pub async fn next(&self, timeout: Duration) -> Option<PeerEvent> {
        let mut rx = self.events.lock().await;
        tokio::time::timeout(timeout, rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// Waits until the session is connected (frames that arrive meanwhile are dropped).
    pub async fn connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(PeerEvent::Connected) => return true,
                Some(_) => {}
                None => return false,
            }
        }
    }
}

/// The `a=ice-ufrag` of an SDP (empty if it has none).
fn ice_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// How the peer reaches the server: its UDP socket, or one ICE-TCP connection (RFC 4571
/// frames), opened when str0m first sends to the server's passive candidate.
enum Net {
    Udp(UdpSocket),
    Tcp {
        writer: Option<(SocketAddr, tokio::net::tcp::OwnedWriteHalf)>,
        frames: Option<mpsc::Receiver<Vec<u8>>>,
    },
}

impl Net {
    async fn send(&mut self, t: &str0m::net::Transmit) {
        match self {
            Net::Udp(socket) => {
                let _ = socket.send_to(&t.contents, t.destination).await;
            }
            Net::Tcp { writer, frames } => {
                if t.proto != Protocol::Tcp {
                    return;
                }
                if writer.is_none() {
                    let Ok(stream) = TcpStream::connect(t.destination).await else {
                        return;
                    };
                    let _ = stream.set_nodelay(true);
                    let (mut read, write) = stream.into_split();
                    let (tx, rx) = mpsc::channel(1024);
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 2048];
                        loop {
                            let mut len = [0u8; 2];
                            if read.read_exact(&mut len).await.is_err() {
                                return;
                            }
                            let n = u16::from_be_bytes(len) as usize;
                            if n > buf.len() || read.read_exact(&mut buf[..n]).await.is_err() {
                                return;
                            }
                            if tx.send(buf[..n].to_vec()).await.is_err() {
                                return;
                            }
                        }
                    });
                    *writer = Some((t.destination, write));
                    *frames = Some(rx);
                }
                if let Some((_, w)) = writer {
                    let len = (t.contents.len() as u16).to_be_bytes();
                    let _ = w.write_all(&len).await;
                    let _ = w.write_all(&t.contents).await;
                }
            }
        }
    }

    /// The next datagram or frame, with where it came from.
    async fn recv(&mut self, buf: &mut [u8]) -> Option<(Protocol, SocketAddr, usize)> {
        match self {
            Net::Udp(socket) => loop {
                // Errors here are ICMP reports for earlier sends: keep reading.
                if let Ok((n, from)) = socket.recv_from(buf).await {
                    return Some((Protocol::Udp, from, n));
                }
            },
            Net::Tcp { writer, frames } => match (writer, frames) {
                (Some((remote, _)), Some(rx)) => {
                    let frame = rx.recv().await?;
                    let n = frame.len().min(buf.len());
                    buf[..n].copy_from_slice(&frame[..n]);
                    Some((Protocol::Tcp, *remote, n))
                }
                _ => std::future::pending().await,
            },
        }
    }
}

/// Runs the peer: socket in, timers, frames to write; events out. Ends when the
/// [`MediaPeer`] is dropped.
async fn drive(
    mut rtc: Rtc,
    mut net: Net,
    local: SocketAddr,
    mut cmds: mpsc::Receiver<PeerCmd>,
    events: mpsc::Sender<PeerEvent>,
) {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    let mut pending = None;
    loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => net.send(&t).await,
                Ok(Output::Event(Event::Connected)) => {
                    let _ = events.try_send(PeerEvent::Connected);
                }
                Ok(Output::Event(Event::MediaData(d))) => {
                    let _ = events.try_send(PeerEvent::Frame {
                        mid: d.mid.to_string(),
                        data: d.data.to_vec(),
                        audio_level: d.ext_vals.audio_level,
                    });
                }
                Ok(Output::Event(_)) => {}
                Err(_) => return,
            }
        };
        let wait = timeout.saturating_duration_since(Instant::now());
        tokio::select! {
            r = net.recv(&mut buf) => {
                let Some((proto, source, n)) = r else { return };
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive {
                    proto,
                    source,
                    destination: local,
                    contents,
                });
                if rtc.handle_input(input).is_err() {
                    return;
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(PeerCmd::Write { mid, data, audio_level }) => {
                    let now = Instant::now();
                    if let Some(w) = rtc.writer(mid) {
                        let pt = w.payload_params().next().map(PayloadParams::pt);
                        if let Some(pt) = pt {
                            let t = MediaTime::from_millis(now.duration_since(start).as_millis() as u64);
                            let w = match audio_level {
                                Some(l) => w.audio_level(l, l > -50),
                                None => w,
                            };
                            let _ = w.write(pt, now, t, data);
                        }
                    }
                }
                Some(PeerCmd::RestartIce(reply)) => {
                    let mut api = rtc.sdp_api();
                    api.ice_restart(true);
                    let offer = api.apply().map(|(offer, p)| {
                        pending = Some(p);
                        offer.to_sdp_string()
                    });
                    let _ = reply.send(offer);
                }
                Some(PeerCmd::Answer(sdp, reply)) => {
                    let result = match (pending.take(), SdpAnswer::from_sdp_string(&sdp)) {
                        (Some(p), Ok(answer)) => {
                            rtc.sdp_api().accept_answer(p, answer).map_err(|e| e.to_string())
                        }
                        (None, _) => Err("no offer is waiting for an answer".to_string()),
                        (_, Err(e)) => Err(e.to_string()),
                    };
                    let _ = reply.send(result);
                }
                None => return,
            },
            _ = tokio::time::sleep(wait) => {}
        }
        if rtc.handle_input(Input::Timeout(Instant::now())).is_err() {
            return;
        }
    }
}
