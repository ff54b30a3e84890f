//! A LiveKit client's requests as the room's commands, and the room's responses as the
//! answers LiveKit's clients wait for.
//!
//! Most requests are fire-and-forget in LiveKit's protocol, but three wait for an answer: an
//! `AddTrackRequest` for its `TrackPublishedResponse` (the track's sid, before any media), the
//! publisher connection's offer for its answer, and `UpdateParticipantMetadata` for its
//! `RequestResponse`. Each command goes to the room with an id; [`Requests::response`] matches
//! the room's response to what was asked.
//!
//! Publishing: `AddTrackRequest` reserves a sid for its source (`reserve_track`) and is
//! remembered by its `cid`, the id the client gives the track; the offer's sending m-lines name
//! that id (in `mid_to_track_id`, or the track id of their `a=msid` line), which says which
//! source each m-line carries (`media_offer`'s `tracks`).

use crate::twirp::mapping;
use gavel_core::{Command, OfferedTrack, Source, TrackInfo};
use gavel_media::offer::{self, Kind};
use livekit_protocol as lk;
use lk::signal_request::Message as Request_;
use lk::signal_response::Message as Response_;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Track sids one LiveKit request may name; more are ignored (a client cannot make one
/// request cost the room unbounded work).
pub const MAX_TRACKS_PER_REQUEST: usize = 64;

/// Tracks announced by `AddTrackRequest` that are remembered (a client publishes at most one
/// per source; older ones are forgotten first).
const MAX_ANNOUNCED: usize = 16;

/// Requests sent to the room and not answered yet. The room answers each in order and quickly,
/// and requests are rate-limited, so this stays small; the bound is a safety net.
const MAX_AWAITING: usize = 256;

/// What a request to the room was, so its response can be put in LiveKit's terms.
enum Awaiting {
    AddTrack(lk::AddTrackRequest),
    /// The publisher connection's offer, and its id (echoed in the answer).
    Offer(u32),
    Metadata(lk::UpdateParticipantMetadata),
    /// Nothing to answer; a failure is logged.
    Other(&'static str),
}

/// One LiveKit session's requests in flight, and the tracks it announced.
#[derive(Default)]
pub struct Requests {
    next_id: u64,
    awaiting: HashMap<u64, Awaiting>,
    /// `cid` → source, from `AddTrackRequest`s the room accepted.
    announced: VecDeque<(String, Source)>,
}

/// A request turned into what to do.
pub enum Handled {
    /// Send these commands to the room, with these ids.
    Commands(Vec<(Value, Command)>),
    /// Answer the client directly.
    Reply(Box<Response_>),
    Nothing,
}

impl Requests {
    /// A session's requests after a resume: none in flight, the tracks it announced before.
    pub fn announcing(announced: VecDeque<(String, Source)>) -> Requests {
        let mut requests = Requests::default();
        for (cid, source) in announced {
            requests.announce(cid, source);
        }
        requests
    }

    /// The tracks announced so far: `cid` → source.
    pub fn announced(&self) -> &VecDeque<(String, Source)> {
        &self.announced
    }

    /// Remembers that the client's track `cid` carries `source` (the latest [`MAX_ANNOUNCED`]).
    pub fn announce(&mut self, cid: String, source: Source) {
        self.announced.retain(|(c, _)| *c != cid);
        if self.announced.len() >= MAX_ANNOUNCED {
            self.announced.pop_front();
        }
        self.announced.push_back((cid, source));
    }

    /// The commands `message` means (`translator_owner` finds a track's publisher and source,
    /// for subscriptions). Requests answered by the session itself (pings, leave) are not
    /// handled here.
    pub fn handle(
        &mut self,
        message: Request_,
        track_owner: impl Fn(&str) -> Option<(String, Source)>,
    ) -> Handled {
        let commands = match message {
            Request_::AddTrack(req) => {
                let command = Command::ReserveTrack {
                    source: source_of(&req),
                    muted: req.muted,
                    name: Some(req.name.clone()).filter(|n| !n.is_empty()),
                };
                vec![(Awaiting::AddTrack(req), command)]
            }
            Request_::Offer(sd) => match self.offered_tracks(&sd) {
                Ok(tracks) => vec![(
                    Awaiting::Offer(sd.id),
                    Command::MediaOffer {
                        sdp: sd.sdp,
                        tracks,
                    },
                )],
                Err(e) => {
                    tracing::info!(error = %e, "a LiveKit client's offer was refused");
                    return Handled::Nothing;
                }
            },
            Request_::Answer(sd) => vec![(
                Awaiting::Other("answer"),
                Command::MediaAnswer { sdp: sd.sdp },
            )],
            Request_::Trickle(t) => match candidate(&t) {
                Some((candidate, subscriber)) => vec![(
                    Awaiting::Other("trickle"),
                    Command::MediaCandidate {
                        candidate,
                        subscriber,
                    },
                )],
                None => return Handled::Nothing,
            },
            Request_::Mute(m) => vec![(
                Awaiting::Other("mute"),
                Command::SetTrackMuted {
                    track_sid: m.sid,
                    muted: m.muted,
                },
            )],
            Request_::UpdateMetadata(u) => {
                let command = Command::UpdateSelf {
                    name: Some(u.name.clone()).filter(|n| !n.is_empty()),
                    metadata: Some(u.metadata.clone()),
                    attributes: (!u.attributes.is_empty())
                        .then(|| u.attributes.clone().into_iter().collect()),
                };
                vec![(Awaiting::Metadata(u), command)]
            }
            Request_::Subscription(u) => subscriptions(&u, track_owner)
                .into_iter()
                .map(|c| (Awaiting::Other("subscription"), c))
                .collect(),
            Request_::TrackSetting(t) => track_settings(&t)
                .into_iter()
                .map(|c| (Awaiting::Other("track settings"), c))
                .collect(),
            other => {
                tracing::debug!(request = ?std::mem::discriminant(&other), "LiveKit request not served");
                return Handled::Nothing;
            }
        };
        Handled::Commands(
            commands
                .into_iter()
                .map(|(awaiting, command)| (self.expect(awaiting), command))
                .collect(),
        )
    }

    fn expect(&mut self, awaiting: Awaiting) -> Value {
        if self.awaiting.len() >= MAX_AWAITING {
            // The room answers every request; this only drops answers nobody can still want.
            tracing::warn!("too many LiveKit requests awaiting the room: forgetting them");
            self.awaiting.clear();
        }
        self.next_id += 1;
        self.awaiting.insert(self.next_id, awaiting);
        Value::from(self.next_id)
    }

    /// The room's response `v` (`{"type":"response","id",…}`) in LiveKit's terms, if the
    /// request was one LiveKit's client waits on.
    pub fn response(&mut self, v: &Value) -> Option<Response_> {
        let awaiting = self.awaiting.remove(&v["id"].as_u64()?)?;
        let ok = v["ok"] == true;
        let message = v["error"]["message"].as_str().unwrap_or_default();
        match awaiting {
            Awaiting::AddTrack(req) if ok => {
                let track: TrackInfo = serde_json::from_value(v["track"].clone()).ok()?;
                self.announce(req.cid.clone(), track.source);
                let mut info = mapping::track(&track);
                info.width = req.width;
                info.height = req.height;
                info.stream = req.stream.clone();
                Some(Response_::TrackPublished(lk::TrackPublishedResponse {
                    cid: req.cid,
                    track: Some(info),
                }))
            }
            Awaiting::AddTrack(req) => {
                tracing::info!(cid = %req.cid, error = %message, "a LiveKit client's track was refused");
                Some(refused(
                    0,
                    &v["error"]["code"],
                    message,
                    lk::request_response::Request::AddTrack(req),
                ))
            }
            Awaiting::Offer(id) if ok => Some(Response_::Answer(lk::SessionDescription {
                r#type: "answer".into(),
                sdp: v["sdp"].as_str()?.to_string(),
                id,
                ..Default::default()
            })),
            Awaiting::Metadata(u) if !ok => Some(refused(
                u.request_id,
                &v["error"]["code"],
                message,
                lk::request_response::Request::UpdateMetadata(u),
            )),
            Awaiting::Metadata(u) => Some(Response_::RequestResponse(lk::RequestResponse {
                request_id: u.request_id,
                ..Default::default()
            })),
            Awaiting::Offer(_) if !ok => {
                tracing::info!(error = %message, "a LiveKit client's offer was refused");
                None
            }
            Awaiting::Other(what) if !ok => {
                tracing::info!(request = what, error = %message, "a LiveKit client's request was refused");
                None
            }
            Awaiting::Offer(_) | Awaiting::Other(_) => None,
        }
    }

    /// The sources the offer's sending m-lines carry, by the ids of the tracks announced.
    fn offered_tracks(&self, sd: &lk::SessionDescription) -> Result<Vec<OfferedTrack>, String> {
        let lines = offer::inspect(&sd.sdp)?;
        let mut tracks = Vec::new();
        for line in lines.iter().filter(|m| m.sends) {
            let id = sd.mid_to_track_id.get(&line.mid).or(line.track_id.as_ref());
            let announced = id.and_then(|id| {
                self.announced
                    .iter()
                    .find(|(cid, _)| cid == id)
                    .map(|(_, s)| *s)
            });
            // A line whose track was never announced carries the kind's usual source.
            let source = announced.unwrap_or(match line.kind {
                Kind::Audio => Source::Microphone,
                Kind::Video => Source::Camera,
            });
            tracks.push(OfferedTrack {
                mid: line.mid.clone(),
                source,
            });
        }
        Ok(tracks)
    }
}

/// Gavel's source for the track an `AddTrackRequest` announces (an unknown source by its kind).
fn source_of(req: &lk::AddTrackRequest) -> Source {
    match lk::TrackSource::try_from(req.source) {
        Ok(lk::TrackSource::Microphone) => Source::Microphone,
        Ok(lk::TrackSource::Camera) => Source::Camera,
        Ok(lk::TrackSource::ScreenShare) => Source::ScreenVideo,
        Ok(lk::TrackSource::ScreenShareAudio) => Source::ScreenAudio,
        _ if req.r#type == lk::TrackType::Video as i32 => Source::Camera,
        _ => Source::Microphone,
    }
}

fn refused(
    request_id: u32,
    code: &Value,
    message: &str,
    request: lk::request_response::Request,
) -> Response_ {
    use lk::request_response::Reason;
    let reason = match code.as_str() {
        Some("permission_denied") | Some("unauthenticated") => Reason::NotAllowed,
        Some("not_found") => Reason::NotFound,
        Some("rate_limited") | Some("resource_exhausted") => Reason::LimitExceeded,
        Some("invalid_argument") => Reason::InvalidRequest,
        _ => Reason::UnclassifiedError,
    };
    Response_::RequestResponse(lk::RequestResponse {
        request_id,
        reason: reason as i32,
        message: message.to_string(),
        request: Some(request),
    })
}

/// `UpdateSubscription` as the room's subscriptions: per track, its publisher and source.
fn subscriptions(
    u: &lk::UpdateSubscription,
    track_owner: impl Fn(&str) -> Option<(String, Source)>,
) -> Vec<Command> {
    let sids = u.track_sids.iter().chain(
        u.participant_tracks
            .iter()
            .flat_map(|p| p.track_sids.iter()),
    );
    sids.take(MAX_TRACKS_PER_REQUEST)
        .filter_map(|t| track_owner(t))
        .map(|(identity, source)| Command::UpdateSubscription {
            identity,
            sources: vec![source],
            subscribed: Some(u.subscribe),
        })
        .collect()
}

/// `UpdateTrackSettings`: the quality a client wants becomes the simulcast layer it gets.
/// `disabled` (LiveKit's adaptive stream pausing a hidden video) is not acted on: the track
/// keeps flowing, at the layer asked for.
fn track_settings(t: &lk::UpdateTrackSettings) -> Vec<Command> {
    use gavel_core::Layer;
    let layer = match lk::VideoQuality::try_from(t.quality) {
        Ok(lk::VideoQuality::Low) => Some(Layer::Low),
        Ok(lk::VideoQuality::Medium) => Some(Layer::Medium),
        Ok(lk::VideoQuality::High) => Some(Layer::High),
        _ => return Vec::new(),
    };
    t.track_sids
        .iter()
        .take(MAX_TRACKS_PER_REQUEST)
        .map(|sid| Command::UpdateTrackSettings {
            track_sid: sid.clone(),
            layer,
        })
        .collect()
}

/// The candidate line of a trickled `RTCIceCandidateInit` (JSON), and whether it is for the
/// subscriber connection (the server's offer) or the publisher one (the client's).
fn candidate(t: &lk::TrickleRequest) -> Option<(String, bool)> {
    let subscriber = t.target == lk::SignalTarget::Subscriber as i32;
    let v: Value = serde_json::from_str(&t.candidate_init).ok()?;
    Some((v.get("candidate")?.as_str()?.to_string(), subscriber))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_come_from_the_json_for_either_connection() {
        let t = |target: lk::SignalTarget, init: &str| lk::TrickleRequest {
            candidate_init: init.into(),
            target: target as i32,
            ..Default::default()
        };
        let line = r#"{"candidate":"candidate:1 1 udp 1 10.0.0.2 5000 typ host","sdpMid":"0"}"#;
        let c = "candidate:1 1 udp 1 10.0.0.2 5000 typ host".to_string();
        assert_eq!(
            candidate(&t(lk::SignalTarget::Subscriber, line)),
            Some((c.clone(), true))
        );
        assert_eq!(
            candidate(&t(lk::SignalTarget::Publisher, line)),
            Some((c, false))
        );
        assert_eq!(
            candidate(&t(lk::SignalTarget::Subscriber, "not json")),
            None
        );
    }

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=msid:s mic-cid\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=msid:s screen-cid\r\n";

    /// An announced track's source follows its cid into the offer; the answer to the add is
    /// the reserved track, and to the offer the SDP with the offer's id.
    #[test]
    fn announced_tracks_name_the_sources_of_the_offer() {
        let mut r = Requests::default();
        let add = lk::AddTrackRequest {
            cid: "screen-cid".into(),
            r#type: lk::TrackType::Video as i32,
            source: lk::TrackSource::ScreenShare as i32,
            ..Default::default()
        };
        let Handled::Commands(sent) = r.handle(Request_::AddTrack(add), |_| None) else {
            panic!("a command")
        };
        let (id, Command::ReserveTrack { source, .. }) = &sent[0] else {
            panic!("reserve_track")
        };
        assert_eq!(*source, Source::ScreenVideo);
        let track = serde_json::json!({"sid": "TR_9", "source": "screen_video", "muted": false, "media": true});
        let reply = r.response(
            &serde_json::json!({"type": "response", "id": id, "ok": true, "track": track}),
        );
        let Some(Response_::TrackPublished(p)) = reply else {
            panic!("TrackPublished")
        };
        assert_eq!(
            (p.cid.as_str(), p.track.unwrap().sid.as_str()),
            ("screen-cid", "TR_9")
        );
        let offer = lk::SessionDescription {
            r#type: "offer".into(),
            sdp: OFFER.into(),
            id: 7,
            ..Default::default()
        };
        let Handled::Commands(sent) = r.handle(Request_::Offer(offer), |_| None) else {
            panic!("a command")
        };
        let (id, Command::MediaOffer { tracks, .. }) = &sent[0] else {
            panic!("media_offer")
        };
        let sources: Vec<_> = tracks.iter().map(|t| (t.mid.as_str(), t.source)).collect();
        assert_eq!(
            sources,
            [("0", Source::Microphone), ("1", Source::ScreenVideo)]
        );
        let reply = r.response(
            &serde_json::json!({"type": "response", "id": id, "ok": true, "sdp": "v=0 answer"}),
        );
        let Some(Response_::Answer(a)) = reply else {
            panic!("Answer")
        };
        assert_eq!((a.id, a.sdp.as_str()), (7, "v=0 answer"));
    }
}
