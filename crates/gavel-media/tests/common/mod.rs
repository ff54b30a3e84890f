//! An in-memory network on virtual time: a real `Room`, one `MediaEngine`, and str0m peers
//! standing in for clients. Datagrams are delivered at once, except to a peer given a limited
//! downlink (`Net::limit`): a bottleneck queue that delays and, past 300 ms, drops; time
//! advances in 10 ms steps.
//!
//! Every audio frame a peer sends carries `(its identity, a counter)` as payload, so a receiver
//! can tell whose frame it got. `Net::check` compares every delivered frame against an
//! independent reading of the room's state (not `MediaRules`), taken when the frame was
//! forwarded.

#![allow(dead_code)]

use gavel_core::roles::{HOST, PARTICIPANT};
use gavel_core::{Actor, Command, JoinRequest, Roles, Room, Source};
use gavel_media::str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use gavel_media::str0m::format::PayloadParams;
use gavel_media::str0m::media::{
    Direction, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use gavel_media::str0m::net::{Protocol, Receive};
use gavel_media::str0m::{Candidate, Event, Input, Output, Rtc};
use gavel_media::{EngineConfig, EngineOutput, MediaEngine, MediaEvent};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SERVER: &str = "10.0.0.1:5000";

pub struct Peer {
    pub identity: String,
    pub sid: String,
    /// Its media session in the engine: the room session itself, or for a peer the server
    /// offers to ([`Net::join_offered`]) a second session of that participant.
    pub media_session: String,
    /// Data channels open at the peer, and what arrived on them: (label, bytes).
    pub channels: Vec<(gavel_media::str0m::channel::ChannelId, String)>,
    pub data_in: Vec<(String, Vec<u8>)>,
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub send_mid: Option<Mid>,
    pub connected: bool,
    /// (slot mid, sender identity, counter) of every frame received.
    pub received: Vec<(Mid, String, u32)>,
    pub counter: u32,
    pending: Option<SdpPendingOffer>,
    /// A limited downlink from the server, if any.
    link: Option<Link>,
}

/// A bottleneck: `bps` of capacity, a queue that delays what exceeds it, and drops past
/// [`MAX_QUEUE_DELAY`].
struct Link {
    bps: u64,
    free_at: Instant,
    queue: VecDeque<(Instant, gavel_media::str0m::net::Transmit)>,
}

const MAX_QUEUE_DELAY: Duration = Duration::from_millis(300);

pub struct Net {
    pub room: Room,
    pub engine: MediaEngine,
    pub peers: BTreeMap<String, Peer>,
    pub now: Instant,
    pub start: Instant,
    pub slots: HashMap<String, Vec<gavel_media::SlotInfo>>,
    pub levels: Vec<(String, u8)>,
    pub closed: Vec<String>,
    /// Frames delivered that the room did not allow when they were forwarded.
    pub violations: Vec<String>,
    /// (receiver, publisher) pairs unsubscribed, as the test asked (the model's reading).
    pub unsubscribed: std::collections::HashSet<(String, String)>,
    /// Every offer the engine made (to peers of [`Net::join_offered`]), in order.
    pub offers: Vec<String>,
    /// Data channel messages the engine got: (media session, label, bytes).
    pub data_in: Vec<(String, String, Vec<u8>)>,
    next_port: u16,
    host_sid: String,
}

impl Peer {
    fn on_channel_event(&mut self, e: Event) {
        match e {
            Event::ChannelOpen(id, label) => self.channels.push((id, label)),
            Event::ChannelData(d) => {
                if let Some((_, label)) = self.channels.iter().find(|(c, _)| *c == d.id) {
                    self.data_in.push((label.clone(), d.data));
                }
            }
            _ => {}
        }
    }

    /// Writes `data` on the peer's open channel `label`; false if there is none.
    pub fn send_data(&mut self, label: &str, data: &[u8]) -> bool {
        let Some((id, _)) = self.channels.iter().find(|(_, l)| l == label) else {
            return false;
        };
        let id = *id;
        self.rtc
            .channel(id)
            .is_some_and(|mut c| c.write(true, data).is_ok())
    }
}

fn ms(t: Instant, start: Instant) -> u64 {
    1_700_000_000_000 + t.duration_since(start).as_millis() as u64
}

impl Net {
    pub fn new() -> Net {
        let roles = Arc::new(Roles::default());
        let start = Instant::now();
        let mut room = Room::new("r", Default::default(), roles.clone(), 7);
        let host_sid = room
            .join(ms(start, start), join_req("host", HOST, &roles))
            .unwrap();
        let config = EngineConfig {
            candidates: vec![(Protocol::Udp, SERVER.parse().unwrap())],
            ..Default::default()
        };
        Net {
            room,
            engine: MediaEngine::new(config),
            peers: BTreeMap::new(),
            now: start,
            start,
            slots: HashMap::new(),
            levels: Vec::new(),
            closed: Vec::new(),
            violations: Vec::new(),
            unsubscribed: Default::default(),
            offers: Vec::new(),
            data_in: Vec::new(),
            next_port: 6000,
            host_sid,
        }
    }

    pub fn millis(&self) -> u64 {
        ms(self.now, self.start)
    }

    /// `identity` joins the room, and opens a media session publishing a microphone (if
    /// `publish`) with `slots` audio receive slots.
    pub fn join(&mut self, identity: &str, publish: bool, slots: usize) {
        self.join_with(identity, MediaKind::Audio, publish.then_some(None), slots);
    }

    /// `identity` joins and publishes a camera in two simulcast layers, `l` and `h` (if
    /// `publish`), with `slots` video receive slots.
    pub fn join_video(&mut self, identity: &str, publish: bool, slots: usize) {
        let mut layers = Simulcast::new();
        layers.add_send_layer(SimulcastLayer::new("l"));
        layers.add_send_layer(SimulcastLayer::new("h"));
        self.join_with(
            identity,
            MediaKind::Video,
            publish.then_some(Some(layers)),
            slots,
        );
    }

    /// Joins, then offers one sending m-line of `kind` (with `publish`'s simulcast layers, when
    /// `Some`) and `slots` receive slots of that kind.
    fn join_with(
        &mut self,
        identity: &str,
        kind: MediaKind,
        publish: Option<Option<Simulcast>>,
        slots: usize,
    ) {
        let (sid, addr, mut rtc) = self.new_participant(identity);
        let mut api = rtc.sdp_api();
        let publishes = publish.is_some();
        let send_mid =
            publish.map(|layers| api.add_media(kind, Direction::SendOnly, None, None, layers));
        for _ in 0..slots {
            api.add_media(kind, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api.apply().unwrap();
        let source = match kind {
            MediaKind::Audio => Source::Microphone,
            MediaKind::Video => Source::Camera,
        };
        let sources: &[Source] = if publishes { &[source] } else { &[] };
        let answer = self
            .offer_sources(&sid, &offer.to_sdp_string(), sources)
            .unwrap();
        rtc.sdp_api()
            .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
            .unwrap();
        self.peers.insert(
            identity.to_string(),
            Peer {
                identity: identity.into(),
                media_session: sid.clone(),
                channels: Vec::new(),
                data_in: Vec::new(),
                sid,
                rtc,
                addr,
                send_mid,
                connected: false,
                received: Vec::new(),
                counter: 0,
                pending: None,
                link: None,
            },
        );
        self.sync_rules();
    }

    /// Every video publisher sends one frame in each layer; then 40 ms pass.
    pub fn film(&mut self) {
        self.film_sized(120, 120);
    }

    /// Gives `identity`'s downlink from the server `bps` of capacity (`None`: unlimited; what
    /// is queued still arrives).
    pub fn limit(&mut self, identity: &str, bps: Option<u64>) {
        let now = self.now;
        let p = self.peers.get_mut(identity).expect("a peer");
        match bps {
            Some(bps) => match &mut p.link {
                Some(link) => link.bps = bps,
                None => {
                    p.link = Some(Link {
                        bps,
                        free_at: now,
                        queue: VecDeque::new(),
                    })
                }
            },
            None => {
                if let Some(link) = &mut p.link {
                    // Unlimited from now on: drain what is queued as it falls due.
                    link.bps = u64::MAX / 8_000_000;
                }
            }
        }
    }

    /// Like [`Net::film`], with frames of these sizes in the low and the high layer.
    pub fn film_sized(&mut self, low_bytes: usize, high_bytes: usize) {
        let now = self.now;
        let start = self.start;
        for p in self.peers.values_mut() {
            let (Some(mid), true) = (p.send_mid, p.connected) else {
                continue;
            };
            p.counter += 1;
            for rid in ["l", "h"] {
                let Some(w) = p.rtc.writer(mid) else { continue };
                if w.payload_params().next().is_none() {
                    continue;
                }
                let pt = w.payload_params().next().map(PayloadParams::pt).unwrap();
                // A VP8 key frame's first byte (P bit clear), then the tag.
                let mut payload = vec![0x10];
                payload.extend(format!("{}/{rid}#{}", p.identity, p.counter).into_bytes());
                payload.resize(if rid == "h" { high_bytes } else { low_bytes }, b' ');
                let t =
                    MediaTime::from_90khz(now.duration_since(start).as_micros() as u64 * 9 / 100);
                let _ = w.rid(Rid::from(rid)).write(pt, now, t, payload);
            }
            let _ = p.rtc.handle_input(Input::Timeout(now));
        }
        self.pump();
        self.advance(Duration::from_millis(40));
    }

    /// What the server shell does with an offer: the room approves what it sends, the engine
    /// answers, the room publishes and the engine binds.
    /// `identity` joins the room; its peer gets the next address.
    fn new_participant(&mut self, identity: &str) -> (String, SocketAddr, Rtc) {
        let roles = Roles::default();
        let sid = self
            .room
            .join(self.millis(), join_req(identity, PARTICIPANT, &roles))
            .unwrap();
        self.next_port += 1;
        let addr: SocketAddr = format!("10.0.0.2:{}", self.next_port).parse().unwrap();
        let mut rtc = Rtc::builder().build(self.now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
        (sid, addr, rtc)
    }

    /// `identity` joins as a LiveKit client's subscriber connection would: publishing
    /// nothing, with a media session (`<sid>/sub`) that the server offers to and the peer
    /// answers, every time.
    pub fn join_offered(&mut self, identity: &str) {
        let (sid, addr, rtc) = self.new_participant(identity);
        self.room.media_session_opened(&sid).unwrap();
        let media_session = format!("{sid}/sub");
        self.peers.insert(
            identity.to_string(),
            Peer {
                identity: identity.into(),
                sid: sid.clone(),
                media_session: media_session.clone(),
                channels: Vec::new(),
                data_in: Vec::new(),
                rtc,
                addr,
                send_mid: None,
                connected: false,
                received: Vec::new(),
                counter: 0,
                pending: None,
                link: None,
            },
        );
        // The rules first, so the first offer already carries what the peer may receive.
        while self.room.poll_output().is_some() {}
        if self.room.take_media_changed() {
            let rules = self.room.media_rules();
            self.engine.set_rules(self.now, rules);
        }
        self.engine
            .open_offering(self.now, &media_session, &sid)
            .unwrap();
        self.pump();
    }

    pub fn offer(&mut self, sid: &str, sdp: &str, publish: bool) -> Result<String, String> {
        let sources: Vec<Source> = if publish {
            vec![Source::Microphone]
        } else {
            vec![]
        };
        self.offer_sources(sid, sdp, &sources)
    }

    /// An offer whose sending m-lines carry `sources`, in order.
    pub fn offer_sources(
        &mut self,
        sid: &str,
        sdp: &str,
        sources: &[Source],
    ) -> Result<String, String> {
        let sources = sources.to_vec();
        self.room
            .check_media_publish(sid, &sources)
            .map_err(|e| e.to_string())?;
        let answer = self
            .engine
            .accept_offer(self.now, sid, sdp)
            .map_err(|e| e.0)?;
        self.room.media_session_opened(sid).unwrap();
        for ((mid, _), source) in self.engine.sending(sid).into_iter().zip(sources) {
            let track = self.room.publish_media_track(sid, source, false).unwrap();
            self.engine.bind(sid, &mid, &track.sid);
        }
        Ok(answer)
    }

    pub fn sync_rules(&mut self) {
        while self.room.poll_output().is_some() {}
        if self.room.take_media_changed() {
            let rules = self.room.media_rules();
            self.engine.set_rules(self.now, rules);
        }
        self.pump();
    }

    /// A host command; then the rules go to the engine, as the shell does.
    pub fn host(&mut self, command: Command) -> Result<(), String> {
        let r = self
            .room
            .handle(
                self.millis(),
                &Actor::Participant {
                    sid: self.host_sid.clone(),
                },
                command,
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.sync_rules();
        r
    }

    pub fn act(&mut self, identity: &str, command: Command) -> Result<(), String> {
        let sid = self.peers[identity].sid.clone();
        let r = self
            .room
            .handle(self.millis(), &Actor::Participant { sid }, command)
            .map(|_| ())
            .map_err(|e| e.to_string());
        self.sync_rules();
        r
    }

    /// Whether the room, read directly, lets `publisher`'s microphone reach `receiver` now.
    pub fn model_allows(&self, publisher: &str, receiver: &str) -> bool {
        let (Some(p), Some(r)) = (
            self.room.participant(publisher),
            self.room.participant(receiver),
        ) else {
            return false;
        };
        let Some(mic) = p.track(Source::Microphone) else {
            return false;
        };
        let r_has_media = self
            .peers
            .get(receiver)
            .is_some_and(|peer| self.engine.has_session(&peer.media_session));
        publisher != receiver
            && mic.media
            && !mic.muted
            && p.permissions.can_send.contains(&Source::Microphone)
            && !p.permissions.hidden
            && r.permissions.can_receive.contains(&Source::Microphone)
            && r_has_media
            && !self.unsubscribed(receiver, publisher)
    }

    fn unsubscribed(&self, receiver: &str, publisher: &str) -> bool {
        self.unsubscribed
            .contains(&(receiver.to_string(), publisher.to_string()))
    }

    /// `receiver` stops (or resumes) receiving `publisher`'s microphone.
    pub fn subscribe(&mut self, receiver: &str, publisher: &str, on: bool) {
        let key = (receiver.to_string(), publisher.to_string());
        if on {
            self.unsubscribed.remove(&key);
        } else {
            self.unsubscribed.insert(key);
        }
        self.act(
            receiver,
            Command::UpdateSubscription {
                identity: publisher.into(),
                sources: vec![Source::Microphone],
                subscribed: Some(on),
            },
        )
        .unwrap();
    }

    /// Every peer with a microphone sends one 20 ms frame; then 20 ms pass.
    pub fn talk(&mut self) {
        let now = self.now;
        let start = self.start;
        for p in self.peers.values_mut() {
            let (Some(mid), true) = (p.send_mid, p.connected) else {
                continue;
            };
            let Some(w) = p.rtc.writer(mid) else { continue };
            let pt = w.payload_params().next().map(PayloadParams::pt).unwrap();
            p.counter += 1;
            let mut payload = format!("{}#{}", p.identity, p.counter).into_bytes();
            payload.resize(80, b' ');
            let t = MediaTime::from_millis(now.duration_since(start).as_millis() as u64);
            w.audio_level(-10, true).write(pt, now, t, payload).unwrap();
            let _ = p.rtc.handle_input(Input::Timeout(now));
        }
        self.pump();
        self.advance(Duration::from_millis(20));
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(10);
            let now = self.now;
            for p in self.peers.values_mut() {
                while let Some(link) = &mut p.link {
                    if link.queue.front().is_none_or(|(at, _)| *at > now) {
                        break;
                    }
                    let (_, t) = link.queue.pop_front().unwrap();
                    let _ = p.rtc.handle_input(arrival(now, &t));
                }
                let _ = p.rtc.handle_input(Input::Timeout(now));
            }
            self.engine.handle_timeout(now);
            self.room.handle_timeout(self.millis());
            self.pump();
            self.sync_rules_quiet();
        }
    }

    fn sync_rules_quiet(&mut self) {
        while self.room.poll_output().is_some() {}
        if self.room.take_media_changed() {
            let rules = self.room.media_rules();
            self.engine.set_rules(self.now, rules);
        }
    }

    /// Delivers datagrams until the network is quiet.
    pub fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            let now = self.now;
            let mut to_server = Vec::new();
            for p in self.peers.values_mut() {
                loop {
                    match p.rtc.poll_output() {
                        Ok(Output::Timeout(_)) | Err(_) => break,
                        Ok(Output::Transmit(t)) => to_server.push(t),
                        Ok(Output::Event(Event::Connected)) => p.connected = true,
                        Ok(Output::Event(Event::MediaData(d))) => {
                            let text = tag_of(&d.data);
                            let (who, n) = text.split_once('#').unwrap();
                            p.received
                                .push((d.mid, who.to_string(), n.parse().unwrap()));
                        }
                        Ok(Output::Event(e)) => p.on_channel_event(e),
                    }
                }
            }
            for t in to_server {
                moved = true;
                self.engine.handle_receive(
                    now,
                    Protocol::Udp,
                    t.source,
                    t.destination,
                    &t.contents,
                );
            }
            while let Some(out) = self.engine.poll_output() {
                match out {
                    EngineOutput::Transmit(t) => {
                        moved = true;
                        let Some(p) = self.peers.values_mut().find(|p| p.addr == t.destination)
                        else {
                            continue;
                        };
                        if let Some(link) = &mut p.link {
                            // Through the bottleneck: delivered later by `advance`, or lost.
                            let start = link.free_at.max(now);
                            if start.duration_since(now) <= MAX_QUEUE_DELAY {
                                let bits = t.contents.len() as u64 * 8;
                                link.free_at =
                                    start + Duration::from_micros(bits * 1_000_000 / link.bps);
                                link.queue.push_back((link.free_at, t));
                            }
                            continue;
                        }
                        // The frame is forwarded now: judge it against the room as it is now.
                        let before = p.received.len();
                        let _ = p.rtc.handle_input(arrival(now, &t));
                        let receiver = p.identity.clone();
                        // Drain what this datagram produced at once, to judge it now.
                        let mut got = Vec::new();
                        loop {
                            match p.rtc.poll_output() {
                                Ok(Output::Timeout(_)) | Err(_) => break,
                                Ok(Output::Transmit(t)) => {
                                    self.engine.handle_receive(
                                        now,
                                        Protocol::Udp,
                                        t.source,
                                        t.destination,
                                        &t.contents,
                                    );
                                }
                                Ok(Output::Event(Event::Connected)) => p.connected = true,
                                Ok(Output::Event(Event::MediaData(d))) => {
                                    let text = tag_of(&d.data);
                                    let (who, n) = text.split_once('#').unwrap();
                                    got.push((d.mid, who.to_string(), n.parse().unwrap()));
                                }
                                Ok(Output::Event(e)) => p.on_channel_event(e),
                            }
                        }
                        let _ = before;
                        for (mid, who, n) in got {
                            let identity = who.split('/').next().unwrap_or_default();
                            if !identity_is_video(&who) && !self.model_allows(identity, &receiver) {
                                self.violations
                                    .push(format!("{who}#{n} reached {receiver}"));
                            }
                            self.peers
                                .get_mut(&receiver)
                                .unwrap()
                                .received
                                .push((mid, who, n));
                        }
                    }
                    EngineOutput::Event(MediaEvent::Slots { session, slots, .. }) => {
                        self.slots.insert(session, slots);
                    }
                    EngineOutput::Event(MediaEvent::Level { session, level, .. }) => {
                        self.room.media_level(ms(now, self.start), &session, level);
                        self.levels.push((session, level));
                    }
                    EngineOutput::Event(MediaEvent::Closed { session }) => {
                        self.room
                            .media_session_closed(ms(now, self.start), &session);
                        self.closed.push(session);
                    }
                    EngineOutput::Event(MediaEvent::Offer { session, sdp }) => {
                        // The peer answers at once, as a LiveKit client does.
                        moved = true;
                        let p = self
                            .peers
                            .values_mut()
                            .find(|p| p.media_session == session)
                            .expect("an offer for a peer");
                        let offer = SdpOffer::from_sdp_string(&sdp).unwrap();
                        let answer = p.rtc.sdp_api().accept_offer(offer).unwrap();
                        self.offers.push(sdp);
                        self.engine
                            .accept_answer(now, &session, &answer.to_sdp_string())
                            .unwrap();
                    }
                    EngineOutput::Event(MediaEvent::Data {
                        session,
                        label,
                        data,
                        ..
                    }) => {
                        self.data_in.push((session, label, data));
                    }
                    EngineOutput::Event(MediaEvent::Quality {
                        session,
                        rtt,
                        loss_out,
                        loss_in,
                    }) => {
                        let rtt = rtt.map(|d| d.as_millis() as u32);
                        let loss = loss_out.into_iter().chain(loss_in).reduce(f32::max);
                        let at = ms(now, self.start);
                        self.room.media_quality(at, &session, rtt, loss);
                    }
                    EngineOutput::Event(MediaEvent::Connected { .. }) => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    /// Frames `receiver` got from `sender`.
    pub fn got(&self, receiver: &str, sender: &str) -> usize {
        self.peers[receiver]
            .received
            .iter()
            .filter(|(_, who, _)| who == sender)
            .count()
    }

    /// Talks until every peer is connected (or panics after 5 virtual seconds).
    pub fn connect(&mut self) {
        for _ in 0..250 {
            if self.peers.values().all(|p| p.connected) {
                return;
            }
            self.advance(Duration::from_millis(20));
        }
        panic!("peers never connected");
    }
}

pub fn join_req(identity: &str, role: &str, roles: &Roles) -> JoinRequest {
    JoinRequest {
        identity: identity.into(),
        name: identity.into(),
        metadata: String::new(),
        attributes: BTreeMap::new(),
        role: role.into(),
        permissions: roles.get(role).unwrap().clone(),
        issued_at: None,
        bypass_lock: false,
        bypass_waiting_room: false,
    }
}

/// Video frames are tagged `identity/layer`; the audio model above does not judge them.
fn identity_is_video(tag: &str) -> bool {
    tag.contains('/')
}

/// The `who#n` tag of a frame (video frames start with a VP8 header byte).
/// A datagram the server sent, as its peer receives it at `now`.
fn arrival(now: Instant, t: &gavel_media::str0m::net::Transmit) -> Input<'_> {
    Input::Receive(
        now,
        Receive {
            proto: Protocol::Udp,
            source: t.source,
            destination: t.destination,
            contents: (&t.contents[..]).try_into().unwrap(),
        },
    )
}

fn tag_of(data: &[u8]) -> String {
    let data = if data.first() == Some(&0x10) {
        &data[1..]
    } else {
        data
    };
    String::from_utf8_lossy(data).trim().to_string()
}
