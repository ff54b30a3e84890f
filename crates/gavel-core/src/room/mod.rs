//! The room: one deterministic state machine per room.
//!
//! Inputs are [`Room::join`], [`Room::handle`] (every command, from any path),
//! [`Room::disconnected`] and [`Room::handle_timeout`], each given the current time. Outputs
//! are drained with [`Room::poll_output`]; [`Room::poll_timeout`] says when to call back.
//! Nothing here blocks, sleeps, reads a clock or touches a socket.
//!
//! The command handlers are split by topic: `membership` (join, leave, kick, end, move),
//! `media` (tracks, mute, mute-all), `consent` (media requests), `update` (participant
//! updates, batch), `pin`, `data` (data messages, room metadata), `preset` (capabilities
//! reserved for an identity).

mod breakouts;
mod consent;
mod data;
mod durable;
mod forwarding;
mod hands;
mod host_left;
mod listing;
mod lock;
mod media;
mod membership;
mod pin;
mod preset;
pub(crate) mod quality;
mod stage;
mod update;
mod waiting;

use crate::command::{Actor, BanInfo, Command, Reply};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Counts, Event, Output, RoomInfo};
use crate::ids::IdGen;
use crate::participant::{Participant, ParticipantInfo};
use crate::permissions::{HostControl, Permissions};
use crate::roles::Roles;
use crate::settings::RoomSettings;
use crate::speaker::{SpeakerConfig, SpeakerDetector};
use crate::Millis;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

pub use consent::PendingRequest;
pub use durable::{Decision, Pending};
pub use forwarding::MAX_SUBSCRIPTIONS;

pub use membership::JoinRequest;

/// A revocation under this name voids the tokens of every identity (an ended Chime meeting's
/// join tokens). `*` is never an identity, so no participant can hold it.
pub const EVERY_IDENTITY: &str = "*";

#[derive(Debug, Clone)]
struct Ban {
    until: Millis,
    by: String,
}

/// The acting side of a command, resolved against the room.
#[derive(Debug, Clone)]
struct ActorCtx {
    /// Identity of a participant, or the server's name: what events show as `by`.
    label: String,
    /// Session id when the actor is a participant.
    sid: Option<String>,
    /// `None` for the server, which holds every control and sees hidden participants.
    permissions: Option<Permissions>,
}

impl ActorCtx {
    fn require(&self, control: HostControl) -> Result<()> {
        match &self.permissions {
            Some(p) if !p.has(control) => Err(Error::denied(format!(
                "'{}' lacks the host control {}",
                self.label,
                control.as_str()
            ))),
            _ => Ok(()),
        }
    }
    fn is_server(&self) -> bool {
        self.permissions.is_none()
    }
    fn identity(&self) -> Option<&str> {
        self.sid.as_ref().map(|_| self.label.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Room {
    name: String,
    settings: RoomSettings,
    roles: Arc<Roles>,
    ids: IdGen,
    /// By identity; ordered so snapshots and `*` batches are deterministic.
    participants: BTreeMap<String, Participant>,
    /// The identities of present participants that are listed (hidden ones included): a
    /// joiner's snapshot reads these, not every participant — in a 40,000-person audience a
    /// join would otherwise cost a pass over the whole room. A participant is never unlisted.
    listed: BTreeSet<String>,
    /// Session id → identity.
    by_sid: HashMap<String, String>,
    counts: Counts,
    pinned: Option<String>,
    requests: BTreeMap<String, PendingRequest>,
    bans: BTreeMap<String, Ban>,
    /// Identity → tokens issued before this time (ms) are void.
    revocations: BTreeMap<String, Millis>,
    /// Identity → capabilities that replace its send/receive permissions when it joins.
    presets: BTreeMap<String, crate::permissions::Capabilities>,
    speakers: SpeakerDetector,
    /// Daily-style sticky active speaker: the last one to be loudest, until it leaves.
    last_top_speaker: Option<String>,
    /// Large rooms: when the coalesced `counts_updated` is due, and when the last one went out.
    counts_due: Option<Millis>,
    counts_sent_at: Millis,
    outputs: VecDeque<Output>,
    /// Something that decides forwarding changed (see `forwarding.rs`).
    media_changed: bool,
    /// Connection quality changes of announced participants not sent yet, and when the last
    /// batch went out (`quality.rs`).
    quality_pending: BTreeMap<String, crate::event::ConnectionQuality>,
    quality_sent_at: Millis,
    /// The last host left: when the room's `host_left` action happens (`host_left.rs`).
    host_left_at: Option<Millis>,
    /// Whether the room has had a host (a room that never had one has none to lose).
    had_host: bool,
    /// Raised hands, oldest first (`hands.rs`).
    hands: hands::Hands,
    /// Who is on the stage, and the invitations out (`stage.rs`).
    stage: stage::Stage,
    /// A host came, went or changed powers since the last look (`host_left.rs`).
    hosts_changed: bool,
    /// Joiners waiting to be admitted (`waiting.rs`): not participants.
    waiting: waiting::WaitingRoom,
    /// What was told about the breakout rooms' deadlines (`breakouts.rs`).
    breakout_clock: breakouts::BreakoutClock,
}

/// Large rooms send `counts_updated` at most this often (ms).
pub const COUNTS_INTERVAL: Millis = 1000;

impl Room {
    pub fn new(
        name: impl Into<String>,
        settings: RoomSettings,
        roles: Arc<Roles>,
        seed: u64,
    ) -> Room {
        Room {
            name: name.into(),
            settings,
            roles,
            ids: IdGen::new(seed),
            participants: BTreeMap::new(),
            listed: BTreeSet::new(),
            by_sid: HashMap::new(),
            counts: Counts::default(),
            pinned: None,
            requests: BTreeMap::new(),
            bans: BTreeMap::new(),
            revocations: BTreeMap::new(),
            presets: BTreeMap::new(),
            speakers: SpeakerDetector::new(SpeakerConfig::default()),
            last_top_speaker: None,
            counts_due: None,
            counts_sent_at: 0,
            outputs: VecDeque::new(),
            media_changed: false,
            quality_pending: BTreeMap::new(),
            quality_sent_at: 0,
            host_left_at: None,
            had_host: false,
            hands: Default::default(),
            stage: Default::default(),
            hosts_changed: false,
            waiting: Default::default(),
            breakout_clock: Default::default(),
        }
    }

    // ----- queries -----

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn settings(&self) -> &RoomSettings {
        &self.settings
    }
    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            name: self.name.clone(),
            settings: self.settings.clone(),
            host_left_at: self.host_left_at,
        }
    }
    pub fn counts(&self) -> Counts {
        self.counts
    }
    /// Nobody is in the room or waiting to come in.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty() && self.waiting.len() == 0
    }
    pub fn pinned(&self) -> Option<&str> {
        self.pinned.as_deref()
    }
    /// Participants announced to everyone (what a client's list holds, besides itself).
    pub fn announced(&self) -> impl Iterator<Item = &ParticipantInfo> {
        self.participants
            .values()
            .filter(|p| p.announced())
            .map(|p| &p.info)
    }
    /// Whether a coalesced `counts_updated` is still to be sent (large rooms).
    pub fn counts_pending(&self) -> bool {
        self.counts_due.is_some()
    }
    /// Every participant, hidden ones included (the server API's view).
    pub fn participants(&self) -> impl Iterator<Item = &ParticipantInfo> {
        self.participants.values().map(|p| &p.info)
    }
    pub fn participant(&self, identity: &str) -> Option<&ParticipantInfo> {
        self.participants.get(identity).map(|p| &p.info)
    }
    /// When the token `identity` joined with was issued (`None` if absent or unknown).
    pub fn token_issued_at(&self, identity: &str) -> Option<Millis> {
        self.participants.get(identity).and_then(|p| p.issued_at)
    }
    pub fn identity_of(&self, sid: &str) -> Option<&str> {
        self.by_sid.get(sid).map(String::as_str)
    }
    pub fn pending_requests(&self) -> impl Iterator<Item = &PendingRequest> {
        self.requests.values()
    }
    pub fn active_speakers(&self) -> &[crate::event::Speaker] {
        self.speakers.active()
    }
    /// `identity`'s ban in force at `now`, if any.
    pub fn ban_of(&self, identity: &str, now: Millis) -> Option<BanInfo> {
        self.bans
            .get(identity)
            .filter(|b| b.until > now)
            .map(|b| BanInfo {
                identity: identity.to_string(),
                until: b.until,
                by: b.by.clone(),
            })
    }
    pub fn bans(&self, now: Millis) -> Vec<BanInfo> {
        self.bans
            .iter()
            .filter(|(_, b)| b.until > now)
            .map(|(identity, b)| BanInfo {
                identity: identity.clone(),
                until: b.until,
                by: b.by.clone(),
            })
            .collect()
    }
    /// Voids `identity`'s tokens issued before `before` (also used to restore stored ones).
    pub fn revoke_tokens(&mut self, identity: &str, before: Millis) {
        let slot = self.revocations.entry(identity.to_string()).or_insert(0);
        *slot = (*slot).max(before);
    }

    /// Voids `identity`'s tokens issued before `before`, durably.
    fn record_revocation(&mut self, ctx: &ActorCtx, identity: &str, before: Millis) {
        self.revoke_tokens(identity, before);
        self.revoked_while_waiting(identity, before, &ctx.label);
        self.outputs.push_back(Output::TokensRevoked {
            identity: identity.to_string(),
            before,
            by: ctx.label.clone(),
        });
    }

    /// Reinstates settings kept in durable storage (a room a join created, opened again while
    /// its meeting goes on: its lock).
    pub fn restore_settings(&mut self, settings: RoomSettings) {
        self.settings = settings;
    }

    /// Reinstates a ban kept in durable storage (when a room is opened again).
    pub fn restore_ban(&mut self, identity: &str, until: Millis, by: &str) {
        self.bans.insert(
            identity.to_string(),
            Ban {
                until,
                by: by.to_string(),
            },
        );
    }

    pub fn has_active_bans(&self, now: Millis) -> bool {
        self.bans.values().any(|b| b.until > now)
    }

    // ----- the sans-IO loop -----

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The earliest time [`Room::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Millis> {
        [
            self.requests.values().map(|r| r.expires_at).min(),
            self.speakers.next_tick(),
            self.counts_due,
            self.host_left_at,
            self.stage.next_expiry(),
            self.waiting.next_deadline(),
            self.next_breakout_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn handle_timeout(&mut self, now: Millis) {
        self.expire_requests(now);
        self.speaker_tick(now);
        if self.counts_due.is_some_and(|due| due <= now) {
            self.counts_due = None;
            self.counts_sent_at = now;
            self.send_counts(None);
        }
        self.bans.retain(|_, b| b.until > now);
        self.expire_stage_invites(now);
        self.expire_waiting(now);
        self.breakouts_due(now);
        self.host_left_due(now);
    }

    /// Runs one command from `actor`. A refused command changes nothing and emits no event
    /// (host controls leave a [`Output::HostAction`] either way, for the audit trail).
    pub fn handle(&mut self, now: Millis, actor: &Actor, command: Command) -> Result<Reply> {
        if let Actor::Participant { sid } = actor {
            if self.is_waiting(sid) {
                return self.waiter_command(sid, &command);
            }
        }
        let audit = command
            .is_host_control()
            .then(|| (command.action(), audit_targets(&command), command.clone()));
        let (label, result) = match self.actor(actor) {
            Ok(ctx) => {
                let r = self.dispatch(now, &ctx, command);
                (ctx.label, r)
            }
            Err(e) => (actor_label(actor), Err(e)),
        };
        self.watch_hosts(now);
        if let Some((action, targets, command)) = audit {
            self.outputs.push_back(Output::HostAction {
                actor: label,
                action,
                targets,
                command: Box::new(command),
                outcome: result.as_ref().map(|_| ()).map_err(Clone::clone),
            });
        }
        result
    }

    fn dispatch(&mut self, now: Millis, ctx: &ActorCtx, command: Command) -> Result<Reply> {
        match command {
            Command::PublishTrack {
                source,
                muted,
                name,
            } => self.publish_track(ctx, source, muted, name),
            Command::UnpublishTrack { track_sid } => self.unpublish_track(ctx, &track_sid),
            Command::ReserveTrack {
                source,
                muted,
                name,
            } => self.reserve_track(ctx, source, muted, name),
            Command::SetTrackMuted { track_sid, muted } => {
                self.set_own_track_muted(ctx, &track_sid, muted)
            }
            Command::UpdateSelf {
                name,
                metadata,
                attributes,
            } => self.update_self(ctx, name, metadata, attributes),
            Command::AudioLevel { level } => self.audio_level(now, ctx, level),
            Command::MediaOffer { .. }
            | Command::MediaCandidate { .. }
            | Command::MediaSubscribe { .. }
            | Command::MediaAnswer { .. } => Err(Error::new(
                ErrorCode::Internal,
                "media signalling is carried out by the media plane, not the room model",
            )),
            Command::UpdateTrackSettings { track_sid, layer } => {
                self.update_track_settings(ctx, &track_sid, layer)
            }
            Command::UpdateSubscription {
                identity,
                sources,
                subscribed,
            } => self.update_subscription(ctx, &identity, &sources, subscribed),
            Command::RespondRequest { request_id, accept }
                if self.stage.has_invite(&request_id) =>
            {
                self.respond_stage_invite(ctx, &request_id, accept)
            }
            Command::RespondRequest { request_id, accept } => {
                self.respond_request(ctx, &request_id, accept)
            }
            Command::Leave => {
                let identity = self.own_identity(ctx)?.to_string();
                self.remove(&identity, crate::event::LeaveReason::Left, None, true);
                Ok(Reply::done())
            }
            Command::Ping => Ok(Reply::Pong { pong: true }),
            Command::SendData {
                payload,
                topic,
                destination_identities,
                reliable,
            } => self.send_data(ctx, payload, topic, destination_identities, reliable),
            Command::UpdateRoomMetadata { metadata } => self.update_room_metadata(ctx, metadata),
            Command::ListParticipants { after, limit } => {
                self.list_participants(ctx, after.as_deref(), limit)
            }
            Command::Mute {
                identity,
                source,
                muted,
            } => self.host_mute(now, ctx, &identity, source, muted),
            Command::RequestMedia { identity, source } => {
                self.request_media(now, ctx, &identity, source)
            }
            Command::MuteAll { source, except } => self.mute_all(ctx, source, &except),
            Command::BatchUpdate { updates } => self.batch_update(now, ctx, updates),
            Command::Kick {
                identity,
                identities,
                ban_seconds,
                revoke_tokens,
                revoke_before,
                require_present,
            } => {
                let how = membership::KickHow {
                    ban_seconds,
                    revoke_before: revoke_tokens.then(|| revoke_before.unwrap_or(now)),
                    require_present,
                };
                self.kick(now, ctx, identity, identities, how)
            }
            Command::MuteTrack {
                identity,
                track_sid,
                muted,
            } => self.mute_track(now, ctx, &identity, &track_sid, muted),
            Command::EndSession => self.end_session(ctx),
            Command::LockRoom { locked } => self.lock_room(ctx, locked),
            Command::Admit { identities, all } => self.admit_waiting(now, ctx, identities, all),
            Command::Deny {
                identities,
                all,
                message,
                ban_seconds,
            } => self.deny_waiting(now, ctx, identities, all, message, ban_seconds),
            Command::ListWaiting => self.list_waiting(ctx),
            Command::OpenBreakouts {
                count,
                rooms,
                duration_seconds,
                countdown_seconds,
            } => self.open_breakouts(now, ctx, count, rooms, duration_seconds, countdown_seconds),
            Command::CloseBreakouts { countdown_seconds } => {
                self.close_breakouts(now, ctx, countdown_seconds)
            }
            Command::BroadcastToBreakouts { message } => self.broadcast_to_breakouts(ctx, message),
            Command::BreakoutNotice { notice } => self.breakout_notice(ctx, notice),
            Command::BreakoutsReturned => self.breakouts_returned(ctx),
            Command::SetWaitingRoom { enabled } => self.set_waiting_room(now, ctx, enabled),
            Command::RaiseHand { raised } => self.raise_hand(now, ctx, raised),
            Command::LowerHand { identity } => self.lower_hand(ctx, &identity),
            Command::InviteToStage { identity } => self.invite_to_stage(now, ctx, &identity),
            Command::RemoveFromStage { identity } => self.remove_from_stage(ctx, &identity),
            Command::Pin { identity } => self.pin(ctx, &identity),
            Command::Unpin { identity } => self.unpin(ctx, identity.as_deref()),
            Command::UpdateParticipant {
                identity,
                permissions,
                role,
                name,
                metadata,
                attributes,
                capabilities,
            } => {
                let update = crate::command::ParticipantUpdate {
                    permissions,
                    role,
                    name,
                    metadata,
                    attributes,
                    capabilities,
                };
                self.update_participant(ctx, &identity, update)
            }
            Command::Move {
                identity,
                destination,
            } => self.detach_for_move(ctx, &identity, &destination),
            Command::LiftBan { identity } => self.lift_ban(now, ctx, &identity),
            Command::SetPreset {
                identity,
                capabilities,
            } => self.set_preset(ctx, &identity, capabilities),
            Command::SetPresetsExcept {
                except,
                capabilities,
            } => self.set_presets_except(ctx, &except, capabilities),
            Command::DropPreset { identity } => self.drop_preset(ctx, &identity),
            Command::RevokeTokens { identity, before } => {
                ctx.require(HostControl::Kick)?;
                crate::ids::validate_identity(&identity)?;
                self.record_revocation(ctx, &identity, before.unwrap_or(now));
                Ok(Reply::done())
            }
        }
    }

    // ----- shared helpers -----

    fn actor(&self, actor: &Actor) -> Result<ActorCtx> {
        match actor {
            Actor::Server { name } => Ok(ActorCtx {
                label: name.clone(),
                sid: None,
                permissions: None,
            }),
            Actor::Participant { sid } => {
                let p = self
                    .by_sid
                    .get(sid)
                    .and_then(|id| self.participants.get(id))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorCode::FailedPrecondition,
                            "this session is no longer in the room",
                        )
                    })?;
                Ok(ActorCtx {
                    label: p.identity().to_string(),
                    sid: Some(sid.clone()),
                    permissions: Some(p.permissions().clone()),
                })
            }
        }
    }

    /// Self actions need a participant actor.
    fn own_identity<'a>(&self, ctx: &'a ActorCtx) -> Result<&'a str> {
        ctx.identity()
            .ok_or_else(|| Error::invalid("only a connected participant can do this"))
    }

    /// A target as the actor may see it: participants never see (or act on) hidden others.
    fn target(&self, ctx: &ActorCtx, identity: &str) -> Result<&Participant> {
        match self.participants.get(identity) {
            Some(p) if ctx.is_server() || !p.hidden() || ctx.identity() == Some(identity) => Ok(p),
            _ => Err(Error::participant_not_found(identity)),
        }
    }

    fn emit(&mut self, to: Audience, event: Event) {
        self.media_changed |= forwarding::affects_media(&event);
        self.outputs.push_back(Output::Event {
            to,
            event: Box::new(event),
        });
    }

    /// Events about a participant go to everyone, unless it is not announced (hidden, or an
    /// unlisted audience member): then only to itself.
    fn about(&self, p: &Participant) -> Audience {
        if !p.announced() {
            Audience::Only(p.sid().to_string())
        } else {
            Audience::Everyone
        }
    }

    /// A room past its `listed_limit`: audience joins are not announced, counts are coalesced.
    fn is_large(&self) -> bool {
        let limit = self.settings.listed_limit as usize;
        limit > 0 && self.participants.len() >= limit
    }

    /// Announces an unlisted participant who may now send, holds a host control or is pinned.
    fn list(&mut self, identity: &str) {
        let Some(p) = self.participants.get_mut(identity) else {
            return;
        };
        if p.listed {
            return;
        }
        p.listed = true;
        self.listed.insert(identity.to_string());
        if p.announced() {
            let sid = p.sid().to_string();
            let participant = p.info.clone();
            self.emit(
                Audience::EveryoneExcept(sid),
                Event::ParticipantJoined { participant },
            );
        }
    }

    /// Tells everyone the counts: at once in a small room; in a large one (where each join
    /// would otherwise cost a message to everyone) at most once per [`COUNTS_INTERVAL`], from
    /// [`Room::handle_timeout`].
    fn emit_counts(&mut self, except: Option<&str>) {
        if self.is_large() || self.counts_due.is_some() {
            self.counts_due
                .get_or_insert(self.counts_sent_at + COUNTS_INTERVAL);
            return;
        }
        self.send_counts(except);
    }

    fn send_counts(&mut self, except: Option<&str>) {
        let c = self.counts;
        let to = match except {
            Some(sid) => Audience::EveryoneExcept(sid.to_string()),
            None => Audience::Everyone,
        };
        if !self.participants.is_empty() {
            self.emit(
                to,
                Event::CountsUpdated {
                    present: c.present,
                    hidden: c.hidden,
                    waiting: c.waiting,
                },
            );
        }
    }

    fn count(&mut self, hidden: bool, delta: i32) {
        let slot = if hidden {
            &mut self.counts.hidden
        } else {
            &mut self.counts.present
        };
        *slot = slot.saturating_add_signed(delta);
    }

    /// The `joined` snapshot a participant already in the room would get if it joined now:
    /// what a client whose events were lost on their way resynchronises from. A read; nothing
    /// changes.
    pub fn snapshot(&self, sid: &str) -> Option<Event> {
        let identity = self.by_sid.get(sid)?;
        let p = self.participants.get(identity)?;
        Some(Event::Joined {
            room: self.info(),
            me: p.info.clone(),
            participants: self.visible_snapshot(identity),
            counts: self.counts,
            pinned: self.pinned.clone(),
            active_speakers: self.speakers.active().to_vec(),
            hands: self.hands_for(identity, p.permissions().has(HostControl::Stage)),
            stage: self.stage_for(identity),
            waiters: self.waiters_for(p.permissions().has(HostControl::Admit)),
        })
    }

    fn visible_snapshot(&self, except_identity: &str) -> Vec<ParticipantInfo> {
        // The index holds exactly the listed participants (checked in debug builds, where rooms
        // are small enough for a pass over everyone).
        debug_assert!(
            self.participants.len() > 2_000
                || self.participants.values().filter(|p| p.listed).count() == self.listed.len()
        );
        self.listed
            .iter()
            .filter(|identity| *identity != except_identity)
            .filter_map(|identity| self.participants.get(identity))
            .filter(|p| p.announced())
            .map(|p| p.info.clone())
            .collect()
    }

    fn lift_ban(&mut self, now: Millis, ctx: &ActorCtx, identity: &str) -> Result<Reply> {
        ctx.require(HostControl::Kick)?;
        match self.bans.remove(identity) {
            Some(b) if b.until > now => {
                self.outputs.push_back(Output::BanChanged {
                    identity: identity.to_string(),
                    until: None,
                    by: ctx.label.clone(),
                });
                Ok(Reply::done())
            }
            _ => Err(Error::not_found(format!("'{identity}' is not banned"))),
        }
    }

    /// The room's settings with sources it forbids taken out of a participant's permissions.
    fn clamp_to_room(&self, p: &mut Permissions) {
        use crate::permissions::{ContentResolution, Source, VideoResolution};
        let mut forbidden = Vec::new();
        if self.settings.video_max_resolution == VideoResolution::None {
            forbidden.push(Source::Camera);
        }
        if self.settings.content_max_resolution == ContentResolution::None {
            forbidden.extend([Source::ScreenVideo, Source::ScreenAudio]);
        }
        for s in forbidden {
            p.can_send.remove(&s);
            p.can_receive.remove(&s);
        }
    }

    fn speaker_tick(&mut self, now: Millis) {
        let tick = self.speakers.tick(now);
        let window = self.speakers.config().window_ms;
        for identity in &tick.speaking {
            if let Some(p) = self.participants.get_mut(identity) {
                p.info.speaking_time_ms += window;
            }
        }
        if let Some(list) = tick.changed {
            self.emit_speakers(list);
        }
    }

    /// Takes a participant out of speaker detection (it left, or the others can no longer see
    /// it): the list loses it, and if it was the sticky active speaker, that becomes null.
    fn forget_speaker(&mut self, identity: &str) {
        if let Some(list) = self.speakers.remove(identity) {
            self.emit(Audience::Everyone, Event::ActiveSpeakers { speakers: list });
        }
        if self.last_top_speaker.as_deref() == Some(identity) {
            // The loudest one still speaking takes over; null only when nobody speaks.
            self.last_top_speaker = self.speakers.active().first().map(|s| s.identity.clone());
            self.emit(
                Audience::Everyone,
                Event::ActiveSpeakerChanged {
                    identity: self.last_top_speaker.clone(),
                },
            );
        }
    }

    fn emit_speakers(&mut self, list: Vec<crate::event::Speaker>) {
        let previous_top = self.last_top_speaker.take();
        let top = list.first().map(|s| s.identity.clone());
        self.emit(Audience::Everyone, Event::ActiveSpeakers { speakers: list });
        if top.is_some() && top != previous_top {
            self.emit(
                Audience::Everyone,
                Event::ActiveSpeakerChanged {
                    identity: top.clone(),
                },
            );
        }
        self.last_top_speaker = top.or(previous_top);
    }
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Server { name } => name.clone(),
        Actor::Participant { sid } => sid.clone(),
    }
}

fn audit_targets(command: &Command) -> Vec<String> {
    match command {
        Command::Mute { identity, .. }
        | Command::MuteTrack { identity, .. }
        | Command::RequestMedia { identity, .. }
        | Command::Pin { identity }
        | Command::UpdateParticipant { identity, .. }
        | Command::Move { identity, .. }
        | Command::LiftBan { identity }
        | Command::RevokeTokens { identity, .. }
        | Command::SetPreset { identity, .. }
        | Command::LowerHand { identity }
        | Command::InviteToStage { identity }
        | Command::RemoveFromStage { identity }
        | Command::DropPreset { identity } => vec![identity.clone()],
        Command::Unpin { identity } => identity.iter().cloned().collect(),
        Command::Admit { identities, all }
        | Command::Deny {
            identities, all, ..
        } if !all => identities.clone(),
        Command::Kick {
            identity,
            identities,
            ..
        } => identity
            .iter()
            .chain(identities.iter().flatten())
            .cloned()
            .collect(),
        Command::BatchUpdate { updates } => updates.keys().cloned().collect(),
        Command::MuteAll { .. }
        | Command::EndSession
        | Command::SetPresetsExcept { .. }
        | Command::Admit { .. }
        | Command::Deny { .. } => {
            vec!["*".into()]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests;
