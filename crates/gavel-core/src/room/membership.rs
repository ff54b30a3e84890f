//! Who is in the room: join, leave, replace, kick and ban, end, move.

use super::{ActorCtx, Ban, Room};
use crate::command::{MovingParticipant, Reply, TargetResult};
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Event, LeaveReason, Output};
use crate::ids;
use crate::participant::{Participant, ParticipantInfo};
use crate::permissions::{HostControl, Permissions};
use crate::settings::DuplicateIdentity;
use crate::Millis;
use std::collections::BTreeMap;

/// A new session, as the shell derived it from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinRequest {
    pub identity: String,
    pub name: String,
    pub metadata: String,
    pub attributes: BTreeMap<String, String>,
    pub role: String,
    pub permissions: Permissions,
    /// When the token was issued (ms; from `iat`, else `nbf`). Checked against revocations;
    /// unknown counts as issued before any revocation.
    pub issued_at: Option<Millis>,
    /// The token's `bypassLock` grant: joins a locked room (the backend's own participants).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bypass_lock: bool,
    /// The token's `bypassWaitingRoom` grant: enters directly when the room has a waiting room.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bypass_waiting_room: bool,
}

impl JoinRequest {
    /// The participant this request becomes, as session `sid`, joining at `now`.
    pub(super) fn into_info(self, sid: String, now: Millis) -> ParticipantInfo {
        ParticipantInfo {
            sid,
            identity: self.identity,
            name: self.name,
            metadata: self.metadata,
            attributes: self.attributes,
            role: self.role,
            permissions: self.permissions,
            tracks: Vec::new(),
            joined_at: now,
            speaking_time_ms: 0,
        }
    }
}

/// What a kick does besides removing: ban, revoke tokens, and whether absence is an error.
#[derive(Debug, Clone, Default)]
pub(super) struct KickHow {
    pub ban_seconds: Option<u64>,
    /// Void the target's tokens issued before this time (ms).
    pub revoke_before: Option<Millis>,
    pub require_present: bool,
}

/// Longest ban: ten years.
pub const MAX_BAN_SECONDS: u64 = 10 * 365 * 24 * 3600;

pub(super) fn validate_ban(ban_seconds: Option<u64>) -> Result<()> {
    match ban_seconds {
        Some(b) if b == 0 || b > MAX_BAN_SECONDS => Err(Error::invalid(format!(
            "ban_seconds must be 1 to {MAX_BAN_SECONDS}"
        ))),
        _ => Ok(()),
    }
}

impl Room {
    /// Admits a new session. On success the joiner's first output is its `joined` snapshot.
    pub fn join(&mut self, now: Millis, req: JoinRequest) -> Result<String> {
        ids::validate_identity(&req.identity)?;
        ids::validate_name(&req.name)?;
        ids::validate_metadata(&req.metadata)?;
        for (k, v) in &req.attributes {
            ids::validate_attribute(k, v)?;
        }
        self.check_revocation(&req.identity, req.issued_at)?;
        // Whoever could unlock the room is never locked out of it.
        if !req.bypass_lock && !req.permissions.has(HostControl::Lock) {
            self.check_unlocked()?;
        }
        if self.must_wait(&req) {
            return self.enqueue(now, req);
        }
        let sid = self.ids.next("PA");
        let issued_at = req.issued_at;
        self.admit(now, req.into_info(sid.clone(), now), issued_at, None, false)?;
        self.watch_hosts(now);
        Ok(sid)
    }

    /// Refuses a token of `identity` issued (`issued_at`, ms) before a revocation.
    pub(super) fn check_revocation(&self, identity: &str, issued_at: Option<Millis>) -> Result<()> {
        let revoked = [identity, super::EVERY_IDENTITY]
            .iter()
            .filter_map(|id| self.revocations.get(*id).copied())
            .max();
        match revoked {
            // `iat` has whole seconds, so a token issued in the revocation's own second is void
            // too: revocation must never let the old token through.
            Some(before) if issued_at.unwrap_or(0) < before => Err(Error::new(
                ErrorCode::Unauthenticated,
                format!(
                    "tokens of '{identity}' for room '{}' issued before {before} were revoked; get a new token",
                    self.name
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Admits a participant approved for a move out of another room, keeping its session id,
    /// identity, role, permissions and tracks. The target gets `moved`, then `joined`.
    pub fn admit_moved(&mut self, now: Millis, moving: MovingParticipant) -> Result<String> {
        let sid = moving.info.sid.clone();
        let mut info = moving.info;
        info.joined_at = now;
        self.check_revocation(&info.identity, moving.issued_at)?;
        let from = MovedFrom {
            room: moving.from_room,
            by: moving.by,
            media_ended: moving.media_ended,
        };
        self.admit(
            now,
            info,
            moving.issued_at,
            Some(from),
            moving.media_session,
        )?;
        self.watch_hosts(now);
        Ok(sid)
    }

    /// Whether `identity`, holding a token issued at `issued_at`, could come in now by a move
    /// from room `from` (checked before its source room lets it go): bans, revocations,
    /// duplicates, capacity, and the lock — which lets people return from this room's own
    /// child rooms (its breakouts).
    pub fn can_admit_moved(
        &self,
        now: Millis,
        identity: &str,
        issued_at: Option<Millis>,
        from_child: bool,
    ) -> Result<()> {
        self.check_revocation(identity, issued_at)?;
        if !from_child {
            self.check_unlocked()?;
        }
        self.can_admit(now, identity)
    }

    /// The role and permissions a participant gets here when the one who moved it may not
    /// grant more: the built-in `participant` role, clamped to the room.
    pub fn default_grant(&self) -> (String, Permissions) {
        let role = crate::roles::PARTICIPANT;
        let mut p = self.roles.get(role).cloned().unwrap_or_default();
        self.clamp_to_room(&mut p);
        (role.to_string(), p)
    }

    /// Whether `identity` could join now: bans, duplicates, capacity.
    pub fn can_admit(&self, now: Millis, identity: &str) -> Result<()> {
        if let Some(ban) = self.bans.get(identity).filter(|b| b.until > now) {
            return Err(Error::new(
                ErrorCode::Banned,
                format!(
                    "'{identity}' is banned from room '{}' for {} more seconds",
                    self.name,
                    (ban.until - now).div_ceil(1000)
                ),
            ));
        }
        let present = self.participants.contains_key(identity);
        if present && self.settings.duplicate_identity == DuplicateIdentity::Reject {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("'{identity}' is already in room '{}'", self.name),
            ));
        }
        let max = self.settings.max_participants as usize;
        if max > 0 && !present && self.participants.len() >= max {
            return Err(Error::new(
                ErrorCode::RoomFull,
                format!("room '{}' is full ({max} participants)", self.name),
            ));
        }
        Ok(())
    }

    pub(super) fn admit(
        &mut self,
        now: Millis,
        mut info: ParticipantInfo,
        issued_at: Option<Millis>,
        moved: Option<MovedFrom>,
        media_session: bool,
    ) -> Result<()> {
        self.can_admit(now, &info.identity)?;
        if let Some(old) = self.participants.get(&info.identity) {
            let old_identity = old.identity().to_string();
            let from = self.outputs.len();
            self.remove(&old_identity, LeaveReason::Replaced, None, true);
            // The shell resolves `Everyone` when it delivers, by which time the newcomer is
            // connected: the replacement's events must not reach it before its `joined`.
            for out in self.outputs.iter_mut().skip(from) {
                if let Output::Event { to, .. } = out {
                    if *to == Audience::Everyone {
                        *to = Audience::EveryoneExcept(info.sid.clone());
                    }
                }
            }
        }
        if let Some(caps) = self.presets.get(&info.identity) {
            info.permissions = caps.apply_to(&info.permissions);
        }
        self.clamp_to_room(&mut info.permissions);
        if self.settings.host_left.is_host(&info.permissions) {
            self.hosts_changed = true;
        }
        let allowed = info.permissions.can_send.clone();
        info.tracks.retain(|t| allowed.contains(&t.source));
        let sid = info.sid.clone();
        let mut p = Participant {
            info,
            listed: true,
            issued_at,
            media_session,
            subscriptions: Default::default(),
            layers: Default::default(),
            reserved: Vec::new(),
            quality: None,
        };
        p.listed = !p.is_audience() || !self.is_large();
        let hidden = p.hidden();
        let announced = p.announced();
        let snapshot = Event::Joined {
            room: self.info(),
            me: p.info.clone(),
            participants: self.visible_snapshot(p.identity()),
            counts: crate::event::Counts {
                present: self.counts.present + u32::from(!hidden),
                hidden: self.counts.hidden + u32::from(hidden),
                waiting: self.counts.waiting,
            },
            pinned: self.pinned.clone(),
            active_speakers: self.speakers.active().to_vec(),
            hands: self.hands_for(p.identity(), p.permissions().has(HostControl::Stage)),
            stage: self.stage_for(p.identity()),
            waiters: self.waiters_for(p.permissions().has(HostControl::Admit)),
        };
        self.by_sid.insert(sid.clone(), p.identity().to_string());
        let joined = Event::ParticipantJoined {
            participant: p.info.clone(),
        };
        if p.listed {
            self.listed.insert(p.identity().to_string());
        }
        if p.media_session || p.info.tracks.iter().any(|t| t.media) {
            self.media_changed = true;
        }
        self.outputs.push_back(Output::SessionStarted {
            participant: Box::new(p.info.clone()),
            moved_from: moved.as_ref().map(|m| m.room.clone()),
        });
        self.participants.insert(p.identity().to_string(), p);
        self.count(hidden, 1);
        if let Some(moved) = moved {
            self.emit(
                Audience::Only(sid.clone()),
                Event::Moved {
                    from: moved.room,
                    room: self.name.clone(),
                    by: Some(moved.by),
                },
            );
            if moved.media_ended {
                // Before the snapshot, as after a failover: the client opens a new media
                // session once the `joined` that follows has arrived.
                self.emit(
                    Audience::Only(sid.clone()),
                    Event::MediaSessionEnded {
                        reason: crate::event::MediaEndReason::Moved,
                    },
                );
            }
        }
        self.emit(Audience::Only(sid.clone()), snapshot);
        if announced {
            self.emit(Audience::EveryoneExcept(sid.clone()), joined);
        }
        self.emit_counts(Some(&sid));
        Ok(())
    }

    /// The connection of `sid` closed. Unknown (already removed) sessions are ignored.
    pub fn disconnected(&mut self, now: Millis, sid: &str, reason: LeaveReason) {
        if self.is_waiting(sid) {
            return self.waiter_disconnected(sid);
        }
        if let Some(identity) = self.by_sid.get(sid).cloned() {
            self.remove(&identity, reason, None, false);
            self.watch_hosts(now);
        }
    }

    /// Takes a participant out. `notify_target` sends it `room_left` and closes its connection.
    pub(super) fn remove(
        &mut self,
        identity: &str,
        reason: LeaveReason,
        by: Option<String>,
        notify_target: bool,
    ) -> Option<Participant> {
        let p = self.participants.remove(identity)?;
        self.listed.remove(identity);
        self.by_sid.remove(p.sid());
        if self.settings.host_left.is_host(p.permissions()) {
            self.hosts_changed = true;
        }
        // Only someone with a media session or media tracks changes what is forwarded (its
        // session closes, its tracks stop); an audience member leaving a huge room does not.
        if p.media_session || p.info.tracks.iter().any(|t| t.media) {
            self.media_changed = true;
        }
        self.count(p.hidden(), -1);
        self.outputs.push_back(Output::SessionEnded {
            participant: Box::new(p.info.clone()),
            reason,
            by: by.clone(),
        });
        if notify_target {
            self.emit(
                Audience::Only(p.sid().to_string()),
                Event::RoomLeft {
                    reason,
                    by: by.clone(),
                    message: None,
                },
            );
            self.outputs.push_back(Output::Disconnect {
                sid: p.sid().to_string(),
                reason,
            });
        }
        self.forget(&p);
        if p.announced() {
            self.emit(
                Audience::Everyone,
                Event::ParticipantLeft {
                    identity: p.identity().to_string(),
                    sid: p.sid().to_string(),
                    reason,
                    by,
                },
            );
        }
        self.emit_counts(None);
        Some(p)
    }

    /// Drops everything that refers to a participant who is gone: pin, requests, speaker state.
    fn forget(&mut self, p: &Participant) {
        if self.pinned.as_deref() == Some(p.identity()) {
            self.pinned = None;
            self.emit(
                Audience::Everyone,
                Event::Unpinned {
                    identity: p.identity().to_string(),
                    by: None,
                },
            );
        }
        self.cancel_requests_of(p.identity(), p.sid());
        self.forget_speaker(p.identity());
        self.hands.forget(p.identity());
        self.forget_stage(p.identity(), p.sid());
    }

    pub(super) fn kick(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: Option<String>,
        identities: Option<Vec<String>>,
        how: KickHow,
    ) -> Result<Reply> {
        ctx.require(HostControl::Kick)?;
        validate_ban(how.ban_seconds)?;
        match (identity, identities) {
            (Some(one), None) => {
                let removed = self.kick_one(now, ctx, &one, &how)?;
                Ok(Reply::Kicked {
                    removed,
                    banned_until: how.ban_seconds.map(|s| now + s * 1000),
                    tokens_revoked_before: how.revoke_before,
                })
            }
            (None, Some(many)) if !many.is_empty() => {
                let mut results = BTreeMap::new();
                for id in many {
                    // A repeated identity was handled already; its result stands.
                    if results.contains_key(&id) {
                        continue;
                    }
                    let r = self.kick_one(now, ctx, &id, &how).map(|_| Vec::new());
                    results.insert(id, TargetResult::from_result(r));
                }
                Ok(Reply::Results { results })
            }
            _ => Err(Error::invalid(
                "kick needs exactly one of 'identity' or a non-empty 'identities'",
            )),
        }
    }

    /// Removes, bans and revokes one identity, as `how` says; returns whether it was present.
    /// An absent identity can still be banned or have its tokens revoked (someone who just
    /// left stays out), unless `how.require_present`.
    pub(super) fn kick_one(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        how: &KickHow,
    ) -> Result<bool> {
        if ctx.identity() == Some(identity) {
            return Err(Error::invalid("you cannot kick yourself; leave instead"));
        }
        let present = self.target(ctx, identity).is_ok();
        let durable = how.ban_seconds.is_some() || how.revoke_before.is_some();
        if !present && (!durable || how.require_present) {
            return Err(Error::participant_not_found(identity));
        }
        ids::validate_identity(identity)?;
        if let Some(before) = how.revoke_before {
            self.record_revocation(ctx, identity, before);
        }
        self.eject(now, ctx, identity, present, how.ban_seconds);
        Ok(present)
    }

    /// Carries out a checked kick: records the ban (`ban_seconds` already validated) and, with
    /// `remove`, takes the participant out.
    pub(super) fn eject(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        remove: bool,
        ban_seconds: Option<u64>,
    ) {
        if let Some(secs) = ban_seconds {
            let until = now + secs * 1000;
            self.bans.insert(
                identity.to_string(),
                Ban {
                    until,
                    by: ctx.label.clone(),
                },
            );
            self.outputs.push_back(Output::BanChanged {
                identity: identity.to_string(),
                until: Some(until),
                by: ctx.label.clone(),
            });
            // A banned identity does not stay in the waiting room either.
            let by = Some(ctx.label.clone());
            self.turn_away(identity, crate::event::WaitOutcome::Banned, by, None);
        }
        if remove {
            self.remove(identity, LeaveReason::Kicked, Some(ctx.label.clone()), true);
        }
    }

    /// Kick-all: everyone gets `room_left {reason: ended}`; nobody is told about anyone else
    /// leaving (one message per participant, not N²).
    pub(super) fn end_session(&mut self, ctx: &ActorCtx) -> Result<Reply> {
        ctx.require(HostControl::EndSession)?;
        self.end_breakouts();
        self.close_all(LeaveReason::Ended, Some(ctx.label.clone()));
        Ok(Reply::done())
    }

    /// Ends every session with `reason` (end of session, shutdown, room deleted).
    pub fn close_all(&mut self, reason: LeaveReason, by: Option<String>) {
        self.close_waiting(reason, by.clone());
        let participants = std::mem::take(&mut self.participants);
        self.listed.clear();
        for p in participants.values() {
            self.emit(
                Audience::Only(p.sid().to_string()),
                Event::RoomLeft {
                    reason,
                    by: by.clone(),
                    message: None,
                },
            );
            self.outputs.push_back(Output::Disconnect {
                sid: p.sid().to_string(),
                reason,
            });
            self.outputs.push_back(Output::SessionEnded {
                participant: Box::new(p.info.clone()),
                reason,
                by: by.clone(),
            });
        }
        for (id, r) in std::mem::take(&mut self.requests) {
            let _ = r;
            self.outputs.push_back(Output::RequestResolved {
                request_id: id,
                outcome: crate::event::RequestOutcome::Cancelled,
            });
        }
        self.by_sid.clear();
        self.counts = Default::default();
        self.counts_due = None;
        self.pinned = None;
        self.speakers.clear();
        self.last_top_speaker = None;
        self.hands.clear();
        self.stage.clear();
        // Nobody is left to lose a host or to be promoted.
        self.host_left_at = None;
        self.had_host = false;
        self.hosts_changed = false;
    }

    /// Approves a move and detaches the target: others see `participant_left {reason: moved}`,
    /// and the shell gets [`Output::MovedOut`] to admit it into the destination.
    pub(super) fn detach_for_move(
        &mut self,
        ctx: &ActorCtx,
        identity: &str,
        destination: &str,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        ids::validate_room_name(destination)?;
        if destination == self.name {
            return Err(Error::invalid(
                "destination is the room the participant is in",
            ));
        }
        let p = self.target(ctx, identity)?;
        // The hand-off comes first, so the shell takes the participant's connection out of
        // this room before the others hear it left (it must not hear of its own leaving).
        let moving = MovingParticipant {
            info: p.info.clone(),
            from_room: self.name.clone(),
            by: ctx.label.clone(),
            issued_at: p.issued_at,
            media_session: p.media_session,
            media_ended: false,
        };
        self.outputs.push_back(Output::MovedOut {
            moving: Box::new(moving),
        });
        self.remove(identity, LeaveReason::Moved, Some(ctx.label.clone()), false);
        Ok(Reply::done())
    }
}

/// Where a participant moved in from (`Room::admit_moved`).
pub(super) struct MovedFrom {
    room: String,
    by: String,
    /// Its media session could not come along (`MovingParticipant::media_ended`).
    media_ended: bool,
}
