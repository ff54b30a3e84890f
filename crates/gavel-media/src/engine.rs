//! The engine: every media session of one room, and the forwarding between them.
//!
//! Datagrams and time go in ([`MediaEngine::handle_receive`], [`MediaEngine::handle_timeout`]);
//! datagrams to send and events come out ([`MediaEngine::poll_output`]). The room's
//! [`MediaRules`] decide what is forwarded: a frame of track `T` is written to receiver `R`
//! only on a slot the engine assigned from the rules, and every rules change reassigns the
//! slots before the next datagram is read, so nothing the room stopped (a mute, a revoke, a
//! kick) is forwarded after the change was given to the engine.

use crate::demux::stun_ufrag;
use crate::offer::{self, Kind};
use crate::rewrite::{self, Incoming, SlotStream};
use crate::session::{Offering, Published, Session, Slot};
use crate::stats::{DropReason, Stats};
use gavel_core::{Layer, MediaRules};
use rustc_hash::FxHashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::{ChannelConfig, Reliability};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, Mid, Rid};
use str0m::net::{Protocol, Receive, TcpType, Transmit};
use str0m::rtp::{ExtensionValues, RtpPacket, RtpWrite, Vp8Descriptor};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// Limits and addresses, from the server's configuration.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Host candidates advertised to every session (the media port on each address).
    pub candidates: Vec<(Protocol, SocketAddr)>,
    /// Most receive slots a client may offer (audio and video together).
    pub max_slots: usize,
    /// Bitrate limits per published track (bits/s); frames beyond are dropped and counted.
    pub max_audio_bitrate: u64,
    pub max_video_bitrate: u64,
    /// Where a video receiver's bandwidth estimate starts (bits/s), before its congestion
    /// feedback says more.
    pub initial_bandwidth: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            candidates: Vec::new(),
            max_slots: 64,
            max_audio_bitrate: 512_000,
            max_video_bitrate: 8_000_000,
            initial_bandwidth: 2_500_000,
        }
    }
}

/// A refused offer or candidate. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaError(pub String);

impl std::fmt::Display for MediaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one receive slot carries, for the client's track map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotInfo {
    pub mid: String,
    pub kind: Kind,
    /// The room's track sid, its publisher and source; `None` when the slot is idle.
    pub track_sid: Option<String>,
    pub identity: Option<String>,
    pub source: Option<gavel_core::Source>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaEvent {
    /// ICE and DTLS are up: media can flow.
    Connected { session: String },
    /// The session is gone (ICE timed out, or the client closed it). Already removed.
    Closed { session: String },
    /// An RFC 6464 level (0 loudest, 127 silence) measured on a published audio track.
    Level {
        session: String,
        track_sid: String,
        level: u8,
    },
    /// Connection quality, every [`STATS_INTERVAL`] while connected.
    Quality {
        session: String,
        rtt: Option<Duration>,
        /// Fractions (0–1) of packets lost towards the client and from it.
        loss_out: Option<f32>,
        loss_in: Option<f32>,
    },
    /// An offer for the client of a session the server offers to
    /// ([`MediaEngine::open_offering`]); its answer goes to [`MediaEngine::accept_answer`].
    /// One at a time: changes made meanwhile wait for the answer.
    Offer { session: String, sdp: String },
    /// A message on one of the session's data channels (at most [`MAX_DATA_BYTES`]).
    Data {
        session: String,
        label: String,
        binary: bool,
        data: Vec<u8>,
    },
    /// The slots of `session` carry different tracks now. `unserved` counts allowed tracks that
    /// found no free slot, by kind: the client may offer more slots.
    Slots {
        session: String,
        slots: Vec<SlotInfo>,
        unserved_audio: usize,
        unserved_video: usize,
    },
}

pub enum EngineOutput {
    Transmit(Transmit),
    Event(MediaEvent),
}

/// The media sessions of one room.
pub struct MediaEngine {
    config: EngineConfig,
    /// Keyed by the room's session ids, which the server makes (never a client): a fast
    /// hash is safe here, and it is looked up once per receiver per forwarded frame.
    sessions: FxHashMap<String, Session>,
    by_ufrag: HashMap<String, String>,
    by_addr: HashMap<(Protocol, SocketAddr), String>,
    rules: MediaRules,
    /// Track sid → (receiver session, index of its slot, chosen layer): the forwarding
    /// table, rebuilt from the rules and the slots (and so whenever a session's slots change).
    routes: FxHashMap<String, Vec<(String, usize, Option<Rid>)>>,
    /// Sessions written to since they were last polled.
    dirty: Vec<String>,
    /// Session timers, earliest first; entries a session has since moved are skipped. The
    /// sequence number orders equal instants (sessions written by one frame) without comparing
    /// session ids.
    timers: BinaryHeap<Reverse<(Instant, u64, String)>>,
    timer_seq: u64,
    outputs: VecDeque<EngineOutput>,
    /// When constrained video receivers try their wanted layers again (see
    /// [`MediaEngine::retry_constrained`]).
    retries: BinaryHeap<Reverse<(Instant, String)>>,
    /// Keyframes to ask publishers for (new video receivers, layer switches).
    pending_keyframes: Vec<(String, Option<Rid>)>,
    stats: Stats,
}

/// Inactive lines an offered session keeps for their tracks to come back to (each is an m-line
/// in every later offer).
const MAX_DORMANT_LINES: usize = 64;

/// m-lines the server adds to one offered session before a returning track goes back to its
/// old, inactive line instead of a new one. A new line is what every LiveKit SDK shows again
/// (LiveKit's Rust SDK, and so its Python one, ignores a line that comes back with the msid it
/// had); reusing lines is what keeps the SDP bounded, since str0m's lines only ever get added
/// (their msid cannot change, and m-lines are never removed from a session).
const MAX_OFFERED_LINES: usize = 256;

/// Data channels a session may have open at once.
const MAX_CHANNELS: usize = 8;

/// Data channel messages larger than this are dropped (LiveKit's clients keep theirs under
/// 15 KiB; a client cannot make the room hold more per message).
pub const MAX_DATA_BYTES: usize = 15 * 1024;

/// The data channels the server opens on a session it offers to: LiveKit's names, one reliable
/// and ordered, one that never retransmits.
const DATA_CHANNELS: [(&str, bool); 2] = [("_reliable", true), ("_lossy", false)];

/// How often each session reports its round-trip time and loss.
pub const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// A video receiver that asked for a keyframe is answered at most this often per track.
const KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// A receiver its bandwidth estimate moved to the low layer tries its wanted layers again after
/// this long, doubling (up to the maximum) each time a retry fails within [`RETRY_HOLD`].
const MIN_RETRY_BACKOFF: Duration = Duration::from_secs(10);
const MAX_RETRY_BACKOFF: Duration = Duration::from_secs(40);
const RETRY_HOLD: Duration = Duration::from_secs(10);

impl MediaEngine {
    pub fn new(config: EngineConfig) -> MediaEngine {
        MediaEngine {
            config,
            sessions: FxHashMap::default(),
            by_ufrag: HashMap::new(),
            by_addr: HashMap::new(),
            rules: MediaRules::default(),
            routes: FxHashMap::default(),
            dirty: Vec::new(),
            timers: BinaryHeap::new(),
            timer_seq: 0,
            retries: BinaryHeap::new(),
            outputs: VecDeque::new(),
            pending_keyframes: Vec::new(),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    pub fn has_session(&self, session: &str) -> bool {
        self.sessions.contains_key(session)
    }
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
    /// The server-side ICE ufrag of `session` (what the shell's router keys datagrams by).
    pub fn ufrag(&self, session: &str) -> Option<&str> {
        self.sessions.get(session).map(|s| s.ufrag.as_str())
    }

    /// Accepts `session`'s SDP offer (creating its session on the first one) and returns the
    /// answer. Its sending m-lines become tracks to [`MediaEngine::bind`]; its receiving ones
    /// become slots. A refused offer changes nothing.
    pub fn accept_offer(
        &mut self,
        now: Instant,
        session: &str,
        sdp: &str,
    ) -> Result<String, MediaError> {
        let lines = offer::inspect(sdp).map_err(MediaError)?;
        let slots = lines.iter().filter(|m| m.receives).count();
        if slots > self.config.max_slots {
            return Err(MediaError(format!(
                "at most {} receive slots per session",
                self.config.max_slots
            )));
        }
        let offer = SdpOffer::from_sdp_string(sdp)
            .map_err(|e| MediaError(format!("malformed SDP offer: {e}")))?;
        let created = !self.sessions.contains_key(session);
        if created {
            let receives_video = lines.iter().any(|m| m.receives && m.kind == Kind::Video);
            let rtc = self.new_rtc(now, receives_video);
            self.insert_session(session, session, rtc);
        }
        let s = self.sessions.get_mut(session).expect("just ensured");
        if s.offering.is_some() {
            return Err(MediaError(
                "the server makes the offers on this connection: answer them".into(),
            ));
        }
        let answer = match s.rtc.sdp_api().accept_offer(offer) {
            Ok(answer) => answer,
            Err(e) => {
                if created {
                    self.remove_session(session);
                }
                return Err(MediaError(format!("the offer was refused: {e}")));
            }
        };
        // The m-lines as they are now: keep bindings of lines that still send.
        let mut published = Vec::new();
        let mut new_slots = Vec::new();
        for line in &lines {
            let mid = Mid::from(line.mid.as_str());
            if line.sends {
                let previous = s.published.iter().position(|(m, _)| *m == mid);
                let entry = match previous {
                    Some(i) => s.published.swap_remove(i).1,
                    None => Published {
                        kind: line.kind,
                        track_sid: None,
                        rids: Vec::new(),
                        last_keyframe_request: None,
                        window_start: None,
                        window_bytes: 0,
                        layer_rates: Vec::new(),
                    },
                };
                published.push((mid, entry));
            }
            if line.receives {
                let previous = s.slots.iter().find(|x| x.mid == mid).cloned();
                new_slots.push(previous.unwrap_or(Slot {
                    mid,
                    kind: line.kind,
                    track: None,
                    rid: None,
                    named: None,
                    out: SlotStream::default(),
                    held: false,
                }));
            }
        }
        s.published = published;
        s.slots = new_slots;
        s.announced.clear();
        // Start the new session's clock: str0m arms its timers (ICE consent, DTLS) on a timeout
        // input, and a receive-only offer creates no stream that would ask for one.
        if s.rtc.handle_input(Input::Timeout(now)).is_err() {
            s.rtc.disconnect();
        }
        // A client that restarts ICE (new credentials in its offer: a browser does when its
        // ICE servers change) gets new ones from str0m too, and its checks name the new ufrag.
        self.refresh_ufrag(session);
        self.enqueue(session);
        self.reassign();
        self.drive(now);
        Ok(answer.to_sdp_string())
    }

    /// Opens a session whose client the server offers to (LiveKit's subscriber connection),
    /// for the room session `participant`: one send-only m-line per track it may receive,
    /// added and retired as the rules change, and the data channels `_reliable` and `_lossy`.
    /// The first offer comes out at once as [`MediaEvent::Offer`].
    pub fn open_offering(
        &mut self,
        now: Instant,
        session: &str,
        participant: &str,
    ) -> Result<(), MediaError> {
        if self.sessions.contains_key(session) {
            return Err(MediaError(format!(
                "media session {session} exists already"
            )));
        }
        let rtc = self.new_rtc(now, true);
        self.insert_session(session, participant, rtc);
        let s = self.sessions.get_mut(session).expect("just inserted");
        s.offering = Some(Box::default());
        if s.rtc.handle_input(Input::Timeout(now)).is_err() {
            s.rtc.disconnect();
        }
        self.reassign();
        self.offer_changes(session);
        self.enqueue(session);
        self.drive(now);
        Ok(())
    }

    /// The client's answer to the last [`MediaEvent::Offer`] for `session`. A malformed answer
    /// changes nothing (the offer stays outstanding). One str0m refuses ends that offer: the
    /// lines it added are dropped and offered again in a new one.
    pub fn accept_answer(
        &mut self,
        now: Instant,
        session: &str,
        sdp: &str,
    ) -> Result<(), MediaError> {
        if sdp.len() > offer::MAX_OFFER_BYTES {
            return Err(MediaError(format!(
                "the answer is larger than {} bytes",
                offer::MAX_OFFER_BYTES
            )));
        }
        let s = self
            .sessions
            .get_mut(session)
            .ok_or_else(|| MediaError("no media session".into()))?;
        let Some(o) = s.offering.as_mut() else {
            return Err(MediaError(
                "this connection's client makes the offers: there is nothing to answer".into(),
            ));
        };
        let answer = SdpAnswer::from_sdp_string(sdp)
            .map_err(|e| MediaError(format!("malformed SDP answer: {e}")))?;
        let Some(pending) = o.pending.take() else {
            return Err(MediaError("no offer is waiting for an answer".into()));
        };
        let in_flight = std::mem::take(&mut o.in_flight);
        let accepted = s.rtc.sdp_api().accept_answer(pending, answer);
        let channels_in_flight = std::mem::take(&mut o.channels_in_flight);
        let restart_in_flight = std::mem::take(&mut o.restart_in_flight);
        if let Err(e) = accepted {
            withdraw(o, &mut s.slots, &in_flight, channels_in_flight);
            o.restart_ice |= restart_in_flight;
            self.reassign();
            self.offer_changes(session);
            self.drive(now);
            return Err(MediaError(format!("the answer was refused: {e}")));
        }
        // An ICE restart took effect: the client's checks name the new ufrag.
        self.refresh_ufrag(session);
        // What changed while the offer was out goes in the next one.
        self.reassign();
        self.offer_changes(session);
        self.request_keyframes_for(now, session);
        self.enqueue(session);
        self.drive(now);
        Ok(())
    }

    /// Restarts ICE on a session the server offers to: the next offer, made at once, carries
    /// new credentials, and the client's checks name them once it answers. An offer still
    /// waiting for its answer is withdrawn first and what it added is offered again: its
    /// client may never have seen it (it went out on the signalling connection that broke).
    pub fn restart_ice(&mut self, now: Instant, session: &str) -> Result<(), MediaError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or_else(|| MediaError("no media session".into()))?;
        let Some(o) = s.offering.as_mut() else {
            return Err(MediaError(
                "this connection's client makes the offers: it restarts ICE in its own".into(),
            ));
        };
        if o.pending.take().is_some() {
            let in_flight = std::mem::take(&mut o.in_flight);
            let channels = std::mem::take(&mut o.channels_in_flight);
            withdraw(o, &mut s.slots, &in_flight, channels);
            o.restart_in_flight = false;
        }
        o.restart_ice = true;
        self.reassign();
        self.offer_changes(session);
        self.drive(now);
        Ok(())
    }

    /// Keeps the ufrag index in step with `session`'s ICE credentials (an ICE restart changes
    /// them).
    fn refresh_ufrag(&mut self, session: &str) {
        let Some(s) = self.sessions.get_mut(session) else {
            return;
        };
        let ufrag = s.rtc.direct_api().local_ice_credentials().ufrag;
        if ufrag != s.ufrag {
            let old = std::mem::replace(&mut s.ufrag, ufrag.clone());
            self.by_ufrag.remove(&old);
            self.by_ufrag.insert(ufrag, session.to_string());
        }
    }

    /// Sends `data` on `session`'s open data channel `label`. False if there is no such open
    /// channel or the message is larger than [`MAX_DATA_BYTES`].
    pub fn send_data(&mut self, now: Instant, session: &str, label: &str, data: &[u8]) -> bool {
        if data.len() > MAX_DATA_BYTES {
            return false;
        }
        let Some(s) = self.sessions.get_mut(session) else {
            return false;
        };
        let Some(id) = s
            .channels
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, id)| *id)
        else {
            return false;
        };
        let sent = s
            .rtc
            .channel(id)
            .is_some_and(|mut c| c.write(true, data).is_ok());
        if sent {
            self.enqueue(session);
            self.drive(now);
        }
        sent
    }

    /// The mids `session` sends on, with their kinds (after [`MediaEngine::accept_offer`]).
    pub fn sending(&self, session: &str) -> Vec<(String, Kind)> {
        self.sessions.get(session).map_or(Vec::new(), |s| {
            s.published
                .iter()
                .map(|(m, p)| (m.to_string(), p.kind))
                .collect()
        })
    }

    /// Binds `session`'s sending m-line `mid` to the room's track `track_sid`.
    pub fn bind(&mut self, session: &str, mid: &str, track_sid: &str) {
        if let Some(p) = self
            .sessions
            .get_mut(session)
            .and_then(|s| s.published_mut(Mid::from(mid)))
        {
            p.track_sid = Some(track_sid.to_string());
        }
    }

    /// A trickled remote candidate (`candidate:…` as in SDP, with or without `a=`).
    pub fn add_remote_candidate(&mut self, session: &str, line: &str) -> Result<(), MediaError> {
        let s = self
            .sessions
            .get_mut(session)
            .ok_or_else(|| MediaError("no media session: send an offer first".into()))?;
        if line.len() > 1024 {
            return Err(MediaError("candidate too long".into()));
        }
        let line = line.trim().trim_start_matches("a=");
        if line.is_empty() {
            return Ok(()); // end of candidates
        }
        let c = Candidate::from_sdp_string(line)
            .map_err(|e| MediaError(format!("malformed candidate: {e}")))?;
        s.rtc.add_remote_candidate(c);
        Ok(())
    }

    /// New forwarding rules from the room. Takes effect before the next datagram.
    pub fn set_rules(&mut self, now: Instant, rules: MediaRules) {
        self.rules = rules;
        self.reassign();
        self.drive(now);
    }

    /// Closes `session` (leave, kick, ban, end). Nothing more is sent to or from it.
    pub fn close(&mut self, now: Instant, session: &str) {
        if let Some(mut s) = self.remove_session(session) {
            s.rtc.disconnect();
            self.reassign();
            self.drive(now);
        }
    }

    /// Takes `session` out whole, for another room's engine ([`MediaEngine::insert`]).
    pub fn take(&mut self, now: Instant, session: &str) -> Option<Session> {
        let s = self.remove_session(session)?;
        self.reassign();
        self.drive(now);
        Some(s)
    }

    /// Adopts a session taken from another engine (a moved participant).
    pub fn insert(&mut self, now: Instant, session: &str, mut s: Session) {
        for slot in &mut s.slots {
            slot.track = None;
            slot.rid = None;
            slot.out.switch();
        }
        s.announced.clear();
        // Its timer lives in the other engine's heap: re-arm it here. So does a constrained
        // receiver's retry: it starts unconstrained, and its next estimate decides again.
        s.next_timeout = None;
        s.queued = false;
        s.constrained = false;
        s.retried_at = None;
        let ufrag = s.ufrag.clone();
        for a in &s.addrs {
            self.by_addr.insert(*a, session.to_string());
        }
        self.by_ufrag.insert(ufrag, session.to_string());
        self.sessions.insert(session.to_string(), s);
        self.reassign();
        self.enqueue(session);
        self.drive(now);
    }

    /// Whether `datagram` from `source` belongs to one of this engine's sessions.
    pub fn owner_of(&self, proto: Protocol, source: SocketAddr, datagram: &[u8]) -> Option<&str> {
        if let Some(ufrag) = stun_ufrag(datagram) {
            return self.by_ufrag.get(ufrag).map(String::as_str);
        }
        self.by_addr.get(&(proto, source)).map(String::as_str)
    }

    /// One datagram from the network, as part of a batch that [`MediaEngine::flush`] ends
    /// (the receivers it writes to are polled then). Returns false (and counts it) if no
    /// session owns it. Under load the shell reads several queued datagrams per batch, so a
    /// receiver's timer pass, str0m's costliest per-write step, is shared by all of them.
    pub fn receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        let owner = match stun_ufrag(datagram) {
            Some(ufrag) => self.by_ufrag.get(ufrag).cloned(),
            None => self.by_addr.get(&(proto, source)).cloned(),
        };
        let Some(id) = owner else {
            self.stats.drop(DropReason::Unknown);
            return false;
        };
        let Ok(contents) = datagram.try_into() else {
            self.stats.drop(DropReason::Unknown);
            return false;
        };
        let s = self.sessions.get_mut(&id).expect("indexed sessions exist");
        let input = Input::Receive(
            now,
            Receive {
                proto,
                source,
                destination,
                contents,
            },
        );
        if !s.rtc.accepts(&input) {
            self.stats.drop(DropReason::Unknown);
            return false;
        }
        if stun_ufrag(datagram).is_some() && !s.addrs.contains(&(proto, source)) {
            // Bounded: a session keeps the few addresses its ICE agent checked.
            if s.addrs.len() >= 8 {
                let old = s.addrs.remove(0);
                self.by_addr.remove(&old);
            }
            s.addrs.push((proto, source));
            self.by_addr.insert((proto, source), id.clone());
        }
        if s.rtc.handle_input(input).is_err() {
            s.rtc.disconnect();
        }
        // The sender's own outputs now (its frames are forwarded as they come out); the
        // receivers written to are polled in `drive`, once per batch.
        self.poll_session(now, &id);
        true
    }

    /// One datagram from the network, and everything it caused sent. Returns false (and
    /// counts it) if no session owns it.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let owned = self.receive(now, proto, source, destination, datagram);
        self.drive(now);
        owned
    }

    /// Ends a batch of [`MediaEngine::receive`]s: polls every session written to, running
    /// each one's due timers once however many frames the batch wrote into it.
    pub fn flush(&mut self, now: Instant) {
        self.drive(now);
    }

    /// Time passed: every session whose timer is due runs. Costs O(due sessions · log), not
    /// O(sessions): timers wait in a heap.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.retry_constrained(now);
        while let Some(Reverse((t, _, _))) = self.timers.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((t, _, id))) = self.timers.pop() else {
                break;
            };
            // An entry whose session moved its timer (or is gone) is stale: skip it.
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            if s.next_timeout != Some(t) {
                continue;
            }
            s.next_timeout = None;
            self.stats.timer_passes += 1;
            if s.rtc.handle_input(Input::Timeout(now)).is_err() {
                s.rtc.disconnect();
            }
            self.enqueue(&id);
        }
        self.drive(now);
    }

    /// The earliest time [`MediaEngine::handle_timeout`] may have work to do (possibly a stale
    /// timer: then the call finds nothing due and costs little).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((t, _, _))| *t);
        let retry = self.retries.peek().map(|Reverse((t, _))| *t);
        timer.into_iter().chain(retry).min()
    }

    pub fn poll_output(&mut self) -> Option<EngineOutput> {
        self.outputs.pop_front()
    }

    // ----- internals -----

    /// A session's `Rtc`. One that receives video estimates its downlink from the client's
    /// congestion feedback (TWCC), which picks its simulcast layers (see
    /// [`MediaEngine::on_bandwidth`]); audio-only sessions skip the estimator and its pacer.
    fn new_rtc(&self, now: Instant, receives_video: bool) -> Rtc {
        // ICE-lite: the server only answers checks, never starts them. Every datagram a client
        // sends then follows its own authenticated check from the same address, which is what
        // the shell's router learns addresses from; a full agent's first checks drew replies
        // (no USERNAME) from addresses not yet learned, and a join waited for the client's
        // 1 s DTLS retransmission.
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            // RTP mode: packets are forwarded as they came (one shared payload for every
            // receiver), renumbered per slot (`rewrite`), instead of depacketized into frames
            // and packetized again for each receiver.
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_h264(true)
            .set_stats_interval(Some(STATS_INTERVAL))
            .enable_bwe(receives_video.then(|| Bitrate::bps(self.config.initial_bandwidth)))
            .build(now);
        for (proto, addr) in &self.config.candidates {
            // TCP candidates are passive: clients connect to us (RFC 6544).
            let c = match proto {
                Protocol::Tcp => Candidate::builder()
                    .tcp()
                    .host(*addr)
                    .tcptype(TcpType::Passive)
                    .build(),
                _ => Candidate::host(*addr, *proto),
            };
            if let Ok(c) = c {
                rtc.add_local_candidate(c);
            }
        }
        rtc
    }

    fn insert_session(&mut self, id: &str, participant: &str, mut rtc: Rtc) {
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        self.by_ufrag.insert(ufrag.clone(), id.to_string());
        self.sessions.insert(
            id.to_string(),
            Session {
                rtc,
                participant: participant.to_string(),
                offering: None,
                channels: Vec::new(),
                ufrag,
                published: Vec::new(),
                slots: Vec::new(),
                addrs: Vec::new(),
                connected: false,
                next_timeout: None,
                queued: false,
                constrained: false,
                retried_at: None,
                retry_backoff: Duration::ZERO,
                announced: Vec::new(),
            },
        );
    }

    fn remove_session(&mut self, id: &str) -> Option<Session> {
        let s = self.sessions.remove(id)?;
        self.by_ufrag.remove(&s.ufrag);
        for a in &s.addrs {
            self.by_addr.remove(a);
        }
        Some(s)
    }

    /// Polls every dirty session until it only has a timeout left; forwarding writes into
    /// other sessions, which are polled in turn.
    fn drive(&mut self, now: Instant) {
        for (track, rid) in std::mem::take(&mut self.pending_keyframes) {
            self.request_keyframe(now, &track, rid);
        }
        while let Some(id) = self.dirty.pop() {
            self.poll_session(now, &id);
        }
    }

    /// Puts `id` on the list of sessions to poll, once.
    fn enqueue(&mut self, id: &str) {
        if let Some(s) = self.sessions.get_mut(id) {
            if !s.queued {
                s.queued = true;
                self.dirty.push(id.to_string());
            }
        }
    }

    /// Runs `id` until it only has a future timeout left. A write asks for a timeout at once
    /// (str0m packetizes and paces queued frames in its timer pass): that one runs here, so
    /// the frame leaves now rather than on the next wake-up.
    fn poll_session(&mut self, now: Instant, id: &str) {
        let mut ticked = false;
        if let Some(s) = self.sessions.get_mut(id) {
            s.queued = false;
        }
        loop {
            let Some(s) = self.sessions.get_mut(id) else {
                return;
            };
            if !s.rtc.is_alive() {
                self.remove_session(id);
                self.reassign();
                self.outputs
                    .push_back(EngineOutput::Event(MediaEvent::Closed {
                        session: id.to_string(),
                    }));
                return;
            }
            // Transmits and timers without looking the session up again; an event may touch
            // other sessions, so it is handled outside this borrow.
            let event = loop {
                match s.rtc.poll_output() {
                    Err(_) => {
                        s.rtc.disconnect();
                        break None;
                    }
                    Ok(Output::Transmit(t)) => {
                        self.stats.datagrams_out += 1;
                        self.stats.bytes_out += t.contents.len() as u64;
                        self.outputs.push_back(EngineOutput::Transmit(t));
                    }
                    Ok(Output::Timeout(t)) if t <= now && !ticked => {
                        ticked = true;
                        self.stats.timer_passes += 1;
                        if s.rtc.handle_input(Input::Timeout(now)).is_err() {
                            s.rtc.disconnect();
                            break None;
                        }
                    }
                    Ok(Output::Timeout(t)) => {
                        if s.next_timeout != Some(t) {
                            s.next_timeout = Some(t);
                            self.timer_seq += 1;
                            self.timers
                                .push(Reverse((t, self.timer_seq, id.to_string())));
                        }
                        return;
                    }
                    Ok(Output::Event(e)) => break Some(e),
                }
            };
            if let Some(e) = event {
                self.on_event(now, id, &e);
            }
        }
    }

    fn on_event(&mut self, now: Instant, id: &str, e: &Event) {
        match e {
            Event::Connected => {
                if let Some(s) = self.sessions.get_mut(id) {
                    s.connected = true;
                }
                self.outputs
                    .push_back(EngineOutput::Event(MediaEvent::Connected {
                        session: id.to_string(),
                    }));
                self.request_keyframes_for(now, id);
            }
            Event::MediaAdded(added) => {
                let rids: Vec<Rid> = added
                    .simulcast
                    .as_ref()
                    .map(|s| s.recv.iter().map(|l| l.rid).collect())
                    .unwrap_or_default();
                if let Some(p) = self
                    .sessions
                    .get_mut(id)
                    .and_then(|s| s.published_mut(added.mid))
                {
                    p.rids = rids;
                }
                self.reassign();
            }
            Event::RtpPacket(packet) => self.forward(now, id, packet),
            Event::ChannelOpen(channel, label) => {
                if let Some(s) = self.sessions.get_mut(id) {
                    // Bounded: a client could open channels without end.
                    if s.channels.len() < MAX_CHANNELS {
                        s.channels.push((label.clone(), *channel));
                    }
                }
            }
            Event::ChannelClose(channel) => {
                if let Some(s) = self.sessions.get_mut(id) {
                    s.channels.retain(|(_, c)| c != channel);
                }
            }
            Event::ChannelData(data) => {
                let label = self.sessions.get(id).and_then(|s| {
                    s.channels
                        .iter()
                        .find(|(_, c)| *c == data.id)
                        .map(|(l, _)| l.clone())
                });
                match label {
                    Some(label) if data.data.len() <= MAX_DATA_BYTES => {
                        self.outputs
                            .push_back(EngineOutput::Event(MediaEvent::Data {
                                session: id.to_string(),
                                label,
                                binary: data.binary,
                                data: data.data.clone(),
                            }));
                    }
                    _ => self.stats.drop(DropReason::OverLimit),
                }
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                self.on_bandwidth(now, id, estimate.as_u64())
            }
            Event::PeerStats(stats) => {
                self.outputs
                    .push_back(EngineOutput::Event(MediaEvent::Quality {
                        session: id.to_string(),
                        rtt: stats.rtt,
                        loss_out: stats.egress_loss_fraction,
                        loss_in: stats.ingress_loss_fraction,
                    }));
            }
            Event::KeyframeRequest(req) => {
                // A receiver asks: pass it on to the publisher of what that slot carries.
                let Some(track) = self
                    .sessions
                    .get(id)
                    .and_then(|s| s.slots.iter().find(|x| x.mid == req.mid))
                    .and_then(|x| Some((x.track.clone()?, x.rid)))
                else {
                    return;
                };
                self.request_keyframe(now, &track.0, track.1);
            }
            _ => {}
        }
    }

    /// One RTP packet from a publisher: checked against the rules and limits once, then
    /// written to every slot the forwarding table names, renumbered for each slot's stream.
    /// The payload is shared, never copied per receiver.
    fn forward(&mut self, now: Instant, from: &str, packet: &RtpPacket) {
        let Some(s) = self.sessions.get_mut(from) else {
            return;
        };
        let ssrc = packet.header.ssrc;
        let Some((mid, rid)) = s
            .rtc
            .direct_api()
            .stream_rx(&ssrc)
            .map(|rx| (rx.mid(), rx.rid()))
        else {
            return;
        };
        let pt = packet.header.payload_type;
        let Some(params) = s.rtc.codec_config().find(|p| p.pt() == pt).copied() else {
            self.stats.drop(DropReason::NotAllowed);
            return;
        };
        let Some(p) = s.published_mut(mid) else {
            self.stats.drop(DropReason::NotAllowed);
            return;
        };
        let Some(track_sid) = p.track_sid.clone() else {
            self.stats.drop(DropReason::NotAllowed);
            return;
        };
        if !self.rules.tracks.contains_key(&track_sid) {
            let muted = self.rules.muted.contains(&track_sid);
            self.stats.drop(if muted {
                DropReason::Muted
            } else {
                DropReason::NotAllowed
            });
            return;
        }
        // Padding only (bandwidth probes): nothing to forward.
        if packet.payload.is_empty() {
            return;
        }
        // Bitrate limit, in one-second windows.
        let limit = match p.kind {
            Kind::Audio => self.config.max_audio_bitrate,
            Kind::Video => self.config.max_video_bitrate,
        } / 8;
        if p.window_start
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            p.window_start = Some(now);
            p.window_bytes = 0;
        }
        p.window_bytes += packet.payload.len() as u64;
        if p.window_bytes > limit {
            self.stats.drop(DropReason::OverLimit);
            return;
        }
        let kind = p.kind;
        if kind == Kind::Video {
            p.measure_layer(now, rid, packet.payload.len());
        }
        let ext = &packet.header.ext_vals;
        if kind == Kind::Audio {
            if let Some(level) = ext.audio_level {
                self.outputs
                    .push_back(EngineOutput::Event(MediaEvent::Level {
                        session: from.to_string(),
                        track_sid: track_sid.clone(),
                        level: level.unsigned_abs().min(127),
                    }));
            }
        }
        let Some(routes) = self.routes.get(&track_sid) else {
            return;
        };
        // What every receiver's copy shares, worked out once.
        let codec = params.spec().codec;
        let vp8 = match codec {
            str0m::format::Codec::Vp8 => Vp8Descriptor::parse(&packet.payload).ok(),
            _ => None,
        };
        let incoming = Incoming {
            ssrc: *ssrc,
            seq: *packet.seq_no,
            time: packet.header.timestamp,
            clock_rate: packet.time.frequency().get(),
            starts: rewrite::starts_stream(codec, &packet.payload, vp8.as_ref()),
            vp8: vp8.as_ref(),
        };
        // Only what the receiver should see of the publisher's header extensions; str0m adds
        // the transport ones (mid, congestion sequence numbers) itself.
        let ext_vals = ExtensionValues {
            audio_level: ext.audio_level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation,
            ..Default::default()
        };
        let mut waiting = false;
        for (rx, slot, wanted) in routes {
            if rid.is_some() && rid != *wanted {
                continue;
            }
            let Some(r) = self.sessions.get_mut(rx) else {
                continue;
            };
            if !r.connected {
                continue;
            }
            let Some(slot) = r.slots.get_mut(*slot) else {
                continue;
            };
            let rtc = &mut r.rtc;
            let Some(out_pt) = slot.out.payload_type(pt, || {
                rtc.codec_config().match_params(params).map(|p| p.pt())
            }) else {
                continue;
            };
            let Some(out) = slot.out.map(now, &incoming) else {
                // A video slot waiting for a keyframe of its new source.
                waiting = true;
                continue;
            };
            let mut api = r.rtc.direct_api();
            let Some(tx) = api.stream_tx_by_mid(slot.mid, None) else {
                continue;
            };
            let mut write = RtpWrite::new(
                out_pt,
                out.seq,
                out.time,
                packet.timestamp,
                packet.payload.clone(),
            )
            .marker(packet.header.marker)
            .ext_vals(ext_vals.clone())
            .nackable(kind == Kind::Video);
            if let Some(patch) = out.vp8 {
                write = write.vp8_patch(patch);
            }
            tx.write_rtp(write);
            self.stats.packets_forwarded += 1;
            if !r.queued {
                r.queued = true;
                self.dirty.push(rx.clone());
            }
        }
        // Ask again (at most once per [`KEYFRAME_INTERVAL`]) until the waiting slots start.
        if waiting
            && !self
                .pending_keyframes
                .iter()
                .any(|(t, r)| *t == track_sid && *r == rid)
        {
            self.pending_keyframes.push((track_sid, rid));
        }
    }

    /// A video receiver's downlink estimate changed. If it cannot carry the layers the rules
    /// want for it (pinned or speaking: high), the receiver gets the low layer of everything.
    /// Switches reassign the room's slots (which asks publishers for keyframes); they are
    /// rare, estimates are not, so an estimate that changes nothing costs O(the receiver's
    /// slots).
    fn on_bandwidth(&mut self, now: Instant, id: &str, estimate: u64) {
        let wanted = self.wanted_bitrate(id);
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        if s.constrained || estimate >= wanted {
            return;
        }
        // A retry that fails soon after it began doubles the wait before the next one.
        s.retry_backoff = match s.retried_at {
            Some(t) if now.saturating_duration_since(t) < RETRY_HOLD => {
                (s.retry_backoff * 2).min(MAX_RETRY_BACKOFF)
            }
            _ => MIN_RETRY_BACKOFF,
        };
        s.constrained = true;
        let at = now + s.retry_backoff;
        self.retries.push(Reverse((at, id.to_string())));
        self.reassign();
    }

    /// Constrained receivers whose wait is over try the layers they want again. Their
    /// estimator restarts from what those layers need: a link that can carry them keeps the
    /// estimate up, one that cannot brings it down within a second or two (delay, then loss)
    /// and the receiver goes back to the low layer for twice as long (up to
    /// [`MAX_RETRY_BACKOFF`]). An estimator that only probes from a low estimate can stay
    /// below the layer's rate long after the link has recovered; a retry cannot.
    fn retry_constrained(&mut self, now: Instant) {
        let mut changed = false;
        while let Some(Reverse((t, _))) = self.retries.peek() {
            if *t > now {
                break;
            }
            let Some(Reverse((_, id))) = self.retries.pop() else {
                break;
            };
            let wanted = self.wanted_bitrate(&id);
            let Some(s) = self.sessions.get_mut(&id) else {
                continue;
            };
            if !s.constrained {
                continue;
            }
            s.constrained = false;
            s.retried_at = Some(now);
            s.rtc.bwe().reset(Bitrate::bps(
                (wanted + wanted / 4).max(self.config.initial_bandwidth / 4),
            ));
            if !s.queued {
                s.queued = true;
                self.dirty.push(id);
            }
            changed = true;
        }
        if changed {
            self.reassign();
        }
    }

    /// What `id`'s video slots would carry at the layers the rules want for it (bits/s, from
    /// each layer's measured rate; unmeasured layers count 0).
    fn wanted_bitrate(&self, id: &str) -> u64 {
        let Some(s) = self.sessions.get(id) else {
            return 0;
        };
        s.slots
            .iter()
            .filter(|slot| slot.kind == Kind::Video)
            .filter_map(|slot| {
                let track = slot.track.as_deref()?;
                let rule = self.rules.tracks.get(track)?;
                let publisher = self.sessions.get(&rule.publisher)?;
                let p = publisher.published(publisher.mid_of(track)?)?;
                let rid = choose_rid(&p.rids, self.rules.layer(track, &s.participant));
                Some(p.layer_rate(rid))
            })
            .sum()
    }

    /// Rebuilds the slot assignment and the forwarding table from the rules. Tracks keep the
    /// slot they have while still allowed; free slots take allowed tracks in sid order,
    /// featured (high-layer) ones first.
    fn reassign(&mut self) {
        let mut routes: FxHashMap<String, Vec<(String, usize, Option<Rid>)>> = FxHashMap::default();
        let mut open: Vec<(&String, &gavel_core::TrackRule)> = self.rules.tracks.iter().collect();
        open.sort_by(|a, b| (b.1.layer, a.0).cmp(&(a.1.layer, b.0)));
        // Which kind and layers each open track has, from its publisher's session.
        let mut shape: HashMap<&str, (Kind, Vec<Rid>)> = HashMap::new();
        for (sid, rule) in &open {
            if let Some(p) = self.sessions.get(&rule.publisher).and_then(|s| {
                s.mid_of(sid)
                    .and_then(|m| s.published(m))
                    .map(|p| (p.kind, p.rids.clone()))
            }) {
                shape.insert(sid.as_str(), p);
            }
        }
        let mut keyframes = Vec::new();
        let mut offers = Vec::new();
        let rules = &self.rules;
        for (rx, s) in &mut self.sessions {
            let participant = s.participant.as_str();
            let allowed = |t: &str| rules.allows(t, participant);
            let offered = s.offering.is_some();
            for slot in &mut s.slots {
                // A muted track keeps the line the server offered for it: LiveKit's clients
                // keep a muted track subscribed, and get it back on unmute without a new
                // negotiation. Its packets are dropped before routing (`forward`).
                if offered && slot.track.as_ref().is_some_and(|t| rules.muted.contains(t)) {
                    slot.held = true;
                    continue;
                }
                if slot
                    .track
                    .as_deref()
                    .is_some_and(|t| !allowed(t) || !shape.contains_key(t))
                {
                    slot.track = None;
                    slot.rid = None;
                    slot.out.switch();
                }
            }
            if let Some(o) = s.offering.as_mut() {
                // An offered m-line belongs to its track (its msid names it): when the track
                // goes, the line goes inactive and waits for it; a track that comes back
                // returns to its line.
                o.wanted.clear();
                let (live, gone): (Vec<Slot>, Vec<Slot>) = std::mem::take(&mut s.slots)
                    .into_iter()
                    .partition(|x| x.track.is_some());
                s.slots = live;
                for slot in gone {
                    if let Some(i) = o.revived.iter().position(|m| *m == slot.mid) {
                        o.revived.remove(i); // revived, then gone again before any offer
                    } else {
                        o.retired.push(slot.mid);
                    }
                    o.dormant.push(slot);
                }
                if o.dormant.len() > MAX_DORMANT_LINES {
                    // The oldest stay inactive for good; their tracks get new lines.
                    o.dormant.remove(0);
                }
            }
            let mut unserved = [0usize; 2];
            for (sid, _) in &open {
                let Some((kind, rids)) = shape.get(sid.as_str()) else {
                    continue;
                };
                if !allowed(sid) {
                    continue;
                }
                let layer = match s.constrained {
                    true => Layer::Low,
                    false => rules.layer(sid, participant),
                };
                let rid = choose_rid(rids, layer);
                if let Some(slot) = s.slots.iter_mut().find(|x| x.track.as_ref() == Some(*sid)) {
                    if slot.rid != rid || slot.held {
                        slot.held = false;
                        slot.rid = rid;
                        slot.out.switch();
                        if *kind == Kind::Video {
                            keyframes.push(((*sid).clone(), rid));
                        }
                    }
                    continue;
                }
                if let Some(o) = s.offering.as_mut() {
                    if let Some(i) = o
                        .dormant
                        .iter()
                        .position(|x| x.named.as_ref() == Some(*sid))
                    {
                        let mut slot = o.dormant.remove(i);
                        match o.retired.iter().position(|m| *m == slot.mid) {
                            Some(r) => {
                                o.retired.remove(r); // never went inactive at the client
                            }
                            // The client saw the line go inactive: the track comes back on a
                            // new line, named anew, while lines may still be added.
                            None if o.lines_added < MAX_OFFERED_LINES => {
                                let publisher = rules.tracks[sid.as_str()].publisher.clone();
                                o.wanted.push(((*sid).clone(), *kind, publisher, rid));
                                continue;
                            }
                            None => o.revived.push(slot.mid),
                        }
                        slot.track = Some((*sid).clone());
                        slot.rid = rid;
                        slot.out.switch();
                        if *kind == Kind::Video {
                            keyframes.push(((*sid).clone(), rid));
                        }
                        s.slots.push(slot);
                        continue;
                    }
                    let publisher = rules.tracks[sid.as_str()].publisher.clone();
                    o.wanted.push(((*sid).clone(), *kind, publisher, rid));
                    continue;
                }
                match s
                    .slots
                    .iter_mut()
                    .find(|x| x.kind == *kind && x.track.is_none())
                {
                    Some(slot) => {
                        slot.track = Some((*sid).clone());
                        slot.rid = rid;
                        slot.out.switch();
                        if *kind == Kind::Video {
                            keyframes.push(((*sid).clone(), rid));
                        }
                    }
                    None => unserved[(*kind == Kind::Video) as usize] += 1,
                }
            }
            for (i, slot) in s.slots.iter().enumerate() {
                if let Some(t) = &slot.track {
                    routes
                        .entry(t.clone())
                        .or_default()
                        .push((rx.clone(), i, slot.rid));
                }
            }
            if s.offering.as_ref().is_some_and(|o| {
                o.pending.is_none()
                    && (!o.wanted.is_empty() || !o.retired.is_empty() || !o.revived.is_empty())
            }) {
                offers.push(rx.clone());
            }
            let now_carrying: Vec<Option<String>> =
                s.slots.iter().map(|x| x.track.clone()).collect();
            if now_carrying != s.announced {
                s.announced = now_carrying;
                self.outputs
                    .push_back(EngineOutput::Event(MediaEvent::Slots {
                        session: rx.clone(),
                        slots: s
                            .slots
                            .iter()
                            .map(|x| {
                                let rule = x.track.as_ref().and_then(|t| rules.tracks.get(t));
                                SlotInfo {
                                    mid: x.mid.to_string(),
                                    kind: x.kind,
                                    track_sid: x.track.clone(),
                                    identity: rule.map(|r| r.publisher_identity.clone()),
                                    source: rule.map(|r| r.source),
                                }
                            })
                            .collect(),
                        unserved_audio: unserved[0],
                        unserved_video: unserved[1],
                    }));
            }
        }
        self.routes = routes;
        self.pending_keyframes.extend(keyframes);
        for id in offers {
            self.offer_changes(&id);
        }
    }

    /// Offers what changed for an offering session (new m-lines for wanted tracks, inactive
    /// ones for tracks gone, the data channels the first time), unless an offer is still
    /// waiting for its answer: then [`MediaEngine::accept_answer`] calls this again. A new
    /// m-line joins the forwarding table at once; str0m sends on it once the answer came.
    fn offer_changes(&mut self, id: &str) {
        let Some(s) = self.sessions.get_mut(id) else {
            return;
        };
        let Session {
            rtc,
            offering: Some(o),
            slots,
            ..
        } = s
        else {
            return;
        };
        if o.pending.is_some()
            || (o.opened
                && o.wanted.is_empty()
                && o.retired.is_empty()
                && o.revived.is_empty()
                && !o.restart_ice)
        {
            return;
        }
        let mut api = rtc.sdp_api();
        if std::mem::take(&mut o.restart_ice) {
            // The same host candidates, with the new credentials.
            api.ice_restart(true);
            o.restart_in_flight = true;
        }
        if !o.opened {
            o.opened = true;
            o.channels_in_flight = true;
            for (label, reliable) in DATA_CHANNELS {
                api.add_channel_with_config(ChannelConfig {
                    label: label.to_string(),
                    ordered: reliable,
                    reliability: match reliable {
                        true => Reliability::Reliable,
                        false => Reliability::MaxRetransmits { retransmits: 0 },
                    },
                    ..Default::default()
                });
            }
        }
        for mid in o.retired.drain(..) {
            api.set_direction(mid, Direction::Inactive);
        }
        for mid in o.revived.drain(..) {
            api.set_direction(mid, Direction::SendOnly);
        }
        let mut added = Vec::new();
        for (track, kind, publisher, rid) in o.wanted.drain(..) {
            let media = match kind {
                Kind::Audio => MediaKind::Audio,
                Kind::Video => MediaKind::Video,
            };
            // LiveKit's clients find the track and its participant in the msid's stream id;
            // its track id is the track's sid the first time, and must differ from any earlier
            // line's after that (two lines with one msid are refused).
            let stream = format!("{publisher}|{track}");
            let msid_track = match o.lines_per_track.get_mut(&track) {
                Some(n) => {
                    *n += 1;
                    format!("{track}-{n}")
                }
                None => {
                    o.lines_per_track.insert(track.clone(), 0);
                    track.clone()
                }
            };
            o.lines_added += 1;
            let mid = api.add_media(
                media,
                Direction::SendOnly,
                Some(stream),
                Some(msid_track),
                None,
            );
            added.push(Slot {
                mid,
                kind,
                named: Some(track.clone()),
                track: Some(track),
                rid,
                out: SlotStream::default(),
                held: false,
            });
        }
        let offer = api.apply();
        o.in_flight = added.iter().map(|x| x.mid).collect();
        for slot in added {
            let track = slot.track.clone().expect("added with a track");
            self.routes
                .entry(track)
                .or_default()
                .push((id.to_string(), slots.len(), slot.rid));
            slots.push(slot);
        }
        if let Some((offer, pending)) = offer {
            o.pending = Some(pending);
            self.outputs
                .push_back(EngineOutput::Event(MediaEvent::Offer {
                    session: id.to_string(),
                    sdp: offer.to_sdp_string(),
                }));
        }
    }

    fn request_keyframes_for(&mut self, now: Instant, receiver: &str) {
        let wanted: Vec<(String, Option<Rid>)> = self
            .sessions
            .get(receiver)
            .map(|s| {
                s.slots
                    .iter()
                    .filter(|x| x.kind == Kind::Video)
                    .filter_map(|x| Some((x.track.clone()?, x.rid)))
                    .collect()
            })
            .unwrap_or_default();
        for (track, rid) in wanted {
            self.request_keyframe(now, &track, rid);
        }
    }

    /// Asks the publisher of `track_sid` for a keyframe (a new receiver, a layer switch, a
    /// receiver's request), at most once per [`KEYFRAME_INTERVAL`].
    fn request_keyframe(&mut self, now: Instant, track_sid: &str, rid: Option<Rid>) {
        let Some(publisher) = self
            .rules
            .tracks
            .get(track_sid)
            .map(|t| t.publisher.clone())
        else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&publisher) else {
            return;
        };
        let Some(mid) = s.mid_of(track_sid) else {
            return;
        };
        let p = s.published_mut(mid).expect("mid_of found it");
        if p.last_keyframe_request
            .is_some_and(|t| now.duration_since(t) < KEYFRAME_INTERVAL)
        {
            return;
        }
        p.last_keyframe_request = Some(now);
        if let Some(rx) = s.rtc.direct_api().stream_rx_by_mid(mid, rid) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.enqueue(&publisher);
        }
    }
}

/// The simulcast layer to forward for `layer`, from the rids a publisher sends. Names the
/// browsers' usual conventions (`q`/`h`/`f`, `l`/`m`/`h`); otherwise the order offered, lowest
/// first.
fn choose_rid(rids: &[Rid], layer: Layer) -> Option<Rid> {
    if rids.is_empty() {
        return None;
    }
    let names: Vec<&str> = rids.iter().map(|r| &**r).collect();
    let wanted: &[&str] = if names.iter().all(|n| ["q", "h", "f"].contains(n)) {
        match layer {
            Layer::Low => &["q", "h", "f"],
            Layer::Medium => &["h", "q", "f"],
            Layer::High => &["f", "h", "q"],
        }
    } else if names.iter().all(|n| ["l", "m", "h"].contains(n)) {
        match layer {
            Layer::Low => &["l", "m", "h"],
            Layer::Medium => &["m", "l", "h"],
            Layer::High => &["h", "m", "l"],
        }
    } else {
        let i = match layer {
            Layer::Low => 0,
            Layer::Medium => rids.len() / 2,
            Layer::High => rids.len() - 1,
        };
        return Some(rids[i]);
    };
    wanted
        .iter()
        .find_map(|w| rids.iter().find(|r| &***r == *w).copied())
}
/// Undoes what an offer that will never be answered added (its answer was refused, or it was
/// withdrawn): its m-lines leave the session, and the data channels are offered again if it
/// opened them.
fn withdraw(o: &mut Offering, slots: &mut Vec<Slot>, in_flight: &[Mid], channels: bool) {
    slots.retain(|x| !in_flight.contains(&x.mid));
    if channels {
        o.opened = false;
    }
}
