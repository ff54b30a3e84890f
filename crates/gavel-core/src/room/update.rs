//! Changing participants: host updates (permissions, role, name, metadata, attributes,
//! capabilities), self updates, and Daily-style batch updates.

use super::{ActorCtx, Room};
use crate::command::{BatchEntry, ParticipantUpdate, Reply, TargetResult};
use crate::error::{Error, Result};
use crate::event::{Audience, Event, LeaveReason, UnpublishReason};
use crate::ids;
use crate::permissions::{HostControl, HostControlSet, Permissions, Source};
use crate::Millis;
use std::collections::BTreeMap;

/// A validated update, ready to apply without further checks.
pub(super) struct Planned {
    role: String,
    permissions: Permissions,
    name: Option<String>,
    metadata: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
}

impl Room {
    pub(super) fn update_participant(
        &mut self,
        ctx: &ActorCtx,
        identity: &str,
        update: ParticipantUpdate,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        let capabilities = update.capabilities;
        let plan = self.plan_update(ctx, identity, update)?;
        self.apply_update(identity, plan, Some(ctx.label.clone()), None);
        if let Some(caps) = capabilities {
            self.refresh_preset(identity, caps);
        }
        Ok(Reply::Participant {
            participant: self.participants[identity].info.clone(),
        })
    }

    /// Checks everything an update needs, changing nothing.
    pub(super) fn plan_update(
        &self,
        ctx: &ActorCtx,
        identity: &str,
        u: ParticipantUpdate,
    ) -> Result<Planned> {
        let p = self.target(ctx, identity)?;
        if let Some(name) = &u.name {
            ids::validate_name(name)?;
        }
        if let Some(m) = &u.metadata {
            ids::validate_metadata(m)?;
        }
        if let Some(attrs) = &u.attributes {
            for (k, v) in attrs {
                ids::validate_attribute(k, v)?;
            }
        }
        let (role, mut permissions) = match &u.role {
            Some(r) => (r.clone(), self.roles.get(r)?.clone()),
            None => (p.info.role.clone(), p.permissions().clone()),
        };
        if let Some(patch) = &u.permissions {
            permissions = permissions.patched(patch);
        }
        if let Some(caps) = &u.capabilities {
            caps.validate(
                self.settings.video_max_resolution,
                self.settings.content_max_resolution,
            )?;
            permissions = caps.apply_to(&permissions);
        }
        self.clamp_to_room(&mut permissions);
        // Nobody hands out a host control it does not hold itself.
        if let Some(own) = &ctx.permissions {
            let added = permissions
                .host
                .iter()
                .find(|c| !own.host.contains(c) && !p.permissions().host.contains(c));
            if let Some(c) = added {
                return Err(Error::denied(format!(
                    "cannot grant the host control {} you do not hold",
                    c.as_str()
                )));
            }
        }
        let mut attributes = None;
        if let Some(changes) = u.attributes {
            let mut merged = p.info.attributes.clone();
            for (k, v) in changes {
                if v.is_empty() {
                    merged.remove(&k);
                } else {
                    merged.insert(k, v);
                }
            }
            if merged.len() > ids::MAX_ATTRIBUTES {
                return Err(Error::invalid(format!(
                    "at most {} attributes per participant",
                    ids::MAX_ATTRIBUTES
                )));
            }
            attributes = Some(merged);
        }
        Ok(Planned {
            role,
            permissions,
            name: u.name,
            metadata: u.metadata,
            attributes,
        })
    }

    /// Applies a planned update with its events: tracks the new permissions forbid are
    /// unpublished, others see `participant_updated`, the target also `permissions_changed`.
    /// `reason`: why, when the room itself makes the change.
    pub(super) fn apply_update(
        &mut self,
        identity: &str,
        plan: Planned,
        by: Option<String>,
        reason: Option<&str>,
    ) {
        let p = self
            .participants
            .get_mut(identity)
            .expect("planned for a present participant");
        let was_hidden = p.hidden();
        let was_announced = p.announced();
        let mut changed = Vec::new();
        if let Some(name) = plan.name.filter(|n| *n != p.info.name) {
            p.info.name = name;
            changed.push("name");
        }
        if let Some(m) = plan.metadata.filter(|m| *m != p.info.metadata) {
            p.info.metadata = m;
            changed.push("metadata");
        }
        if let Some(a) = plan.attributes.filter(|a| *a != p.info.attributes) {
            p.info.attributes = a;
            changed.push("attributes");
        }
        if plan.role != p.info.role {
            p.info.role = plan.role;
            changed.push("role");
        }
        if plan.permissions != p.info.permissions {
            p.info.permissions = plan.permissions;
            changed.push("permissions");
            self.hosts_changed = true;
        }
        if changed.is_empty() {
            return;
        }
        let sid = p.sid().to_string();
        // An audience member who may now send or moderate is listed from here on.
        if !p.is_audience() {
            p.listed = true;
            self.listed.insert(p.identity().to_string());
        }
        let now_hidden = p.hidden();
        let now_announced = p.announced();
        let revoked: crate::permissions::SourceSet = Source::ALL
            .into_iter()
            .filter(|s| !p.permissions().can_send.contains(s))
            .collect();
        let perms_changed = changed.contains(&"permissions") || changed.contains(&"role");

        // Visibility flips look like leaving / joining to everyone else.
        if was_hidden != now_hidden {
            self.count(was_hidden, -1);
            self.count(now_hidden, 1);
        }
        if was_announced && !now_announced {
            if self.pinned.as_deref() == Some(identity) {
                self.pinned = None;
                self.emit(
                    Audience::Everyone,
                    Event::Unpinned {
                        identity: identity.to_string(),
                        by: by.clone(),
                    },
                );
            }
            self.forget_speaker(identity);
            self.cancel_requests_to(identity);
            self.emit(
                Audience::EveryoneExcept(sid.clone()),
                Event::ParticipantLeft {
                    identity: identity.to_string(),
                    sid: sid.clone(),
                    reason: LeaveReason::Hidden,
                    by: by.clone(),
                },
            );
        }
        // Others never saw the tracks of a participant that was not announced until now.
        let tracks_to = if !was_announced {
            Audience::Only(sid.clone())
        } else {
            self.about(&self.participants[identity])
        };
        self.drop_tracks(identity, &revoked, UnpublishReason::Permission, tracks_to);
        if perms_changed {
            self.cancel_requests_for_revoked(identity);
        }
        let info = self.participants[identity].info.clone();
        if !was_announced && now_announced {
            self.emit(
                Audience::EveryoneExcept(sid.clone()),
                Event::ParticipantJoined {
                    participant: info.clone(),
                },
            );
        }
        let to = self.about(&self.participants[identity]);
        let to = if was_announced != now_announced {
            Audience::Only(sid.clone())
        } else {
            to
        };
        self.emit(
            to,
            Event::ParticipantUpdated {
                participant: info.clone(),
                changed: changed.iter().map(|s| s.to_string()).collect(),
                by: by.clone(),
                reason: reason.map(str::to_string),
            },
        );
        if perms_changed {
            self.emit(
                Audience::Only(sid),
                Event::PermissionsChanged {
                    role: info.role,
                    permissions: info.permissions,
                    by,
                    reason: reason.map(str::to_string),
                },
            );
        }
        if was_hidden != now_hidden {
            self.emit_counts(None);
        }
    }

    pub(super) fn update_self(
        &mut self,
        ctx: &ActorCtx,
        name: Option<String>,
        metadata: Option<String>,
        attributes: Option<BTreeMap<String, String>>,
    ) -> Result<Reply> {
        let identity = self.own_identity(ctx)?.to_string();
        if !self.participants[&identity]
            .permissions()
            .can_update_own_metadata
        {
            return Err(Error::denied(
                "this participant may not update its own name, metadata or attributes",
            ));
        }
        let update = ParticipantUpdate {
            name,
            metadata,
            attributes,
            ..Default::default()
        };
        let plan = self.plan_update(ctx, &identity, update)?;
        self.apply_update(&identity, plan, None, None);
        Ok(Reply::Participant {
            participant: self.participants[&identity].info.clone(),
        })
    }

    /// Daily's `update_remote_participants`: per-identity entries, `*` for everyone not listed.
    /// Each identity's entry is checked whole before any part of it applies.
    pub(super) fn batch_update(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        mut updates: BTreeMap<String, BatchEntry>,
    ) -> Result<Reply> {
        if updates.is_empty() {
            return Err(Error::invalid("updates must not be empty"));
        }
        // A batch none of whose entries the actor could carry out is refused whole (and audited so).
        if let Some(own) = &ctx.permissions {
            let needed: HostControlSet = updates.values().flat_map(entry_controls).collect();
            if own.host.is_empty() || (!needed.is_empty() && !needed.iter().any(|c| own.has(*c))) {
                return Err(Error::denied(format!(
                    "'{}' lacks the host controls this batch needs",
                    ctx.label
                )));
            }
        }
        let wildcard = updates.remove("*");
        let mut results = BTreeMap::new();
        for (identity, entry) in &updates {
            let r = self.batch_one(now, ctx, identity, entry);
            results.insert(identity.clone(), TargetResult::from_result(r));
        }
        if let Some(entry) = wildcard {
            let others: Vec<String> = self
                .participants
                .values()
                .filter(|p| !updates.contains_key(p.identity()))
                .filter(|p| ctx.identity() != Some(p.identity()))
                .filter(|p| ctx.is_server() || !p.hidden())
                .map(|p| p.identity().to_string())
                .collect();
            if is_mute_only(&entry) {
                // Muting everyone not listed is mute-all: one summary event per recipient.
                self.batch_wildcard_mute(ctx, &entry, &updates, &others, &mut results);
            } else {
                for identity in others {
                    let r = self.batch_one(now, ctx, &identity, &entry);
                    results.insert(identity, TargetResult::from_result(r));
                }
            }
        }
        Ok(Reply::Results { results })
    }

    fn batch_wildcard_mute(
        &mut self,
        ctx: &ActorCtx,
        entry: &BatchEntry,
        listed: &BTreeMap<String, BatchEntry>,
        targets: &[String],
        results: &mut BTreeMap<String, TargetResult>,
    ) {
        let sources = entry_sources(entry);
        let denied = sources
            .iter()
            .map(|(s, _)| ctx.require(s.mute_control()))
            .find_map(Result::err);
        if let Some(e) = denied {
            for t in targets {
                results.insert(t.clone(), TargetResult::from_result(Err(e.clone())));
            }
            return;
        }
        let mut except: Vec<String> = listed.keys().cloned().collect();
        except.extend(ctx.identity().map(str::to_string));
        // Hidden participants a client cannot see are left alone.
        if !ctx.is_server() {
            except.extend(
                self.participants
                    .values()
                    .filter(|p| p.hidden())
                    .map(|p| p.identity().to_string()),
            );
        }
        for (source, _) in sources {
            self.mute_all_unchecked(&ctx.label, source, &except);
        }
        for t in targets {
            results.insert(t.clone(), TargetResult::ok());
        }
    }

    fn batch_one(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        e: &BatchEntry,
    ) -> Result<Vec<String>> {
        // Authorize and validate every part first.
        self.target(ctx, identity)?;
        let sources = entry_sources(e);
        for (s, on) in &sources {
            ctx.require(s.mute_control())?;
            if *on && self.settings.remote_unmute == crate::settings::RemoteUnmute::Off {
                return Err(Error::precondition("remote unmute not enabled"));
            }
            // Under `ask` an unmute is a consent request, and nobody asks itself: refuse now,
            // before any other part of the entry applies.
            let already_on = self.participants[identity].tracks_of(*s).any(|t| !t.muted);
            if *on
                && !already_on
                && self.settings.remote_unmute == crate::settings::RemoteUnmute::Ask
                && ctx.identity() == Some(identity)
            {
                return Err(Error::invalid("you cannot send a request to yourself"));
            }
        }
        if e.eject {
            ctx.require(HostControl::Kick)?;
            if ctx.identity() == Some(identity) {
                return Err(Error::invalid("you cannot eject yourself"));
            }
            super::membership::validate_ban(e.ban_seconds)?;
        } else if e.ban_seconds.is_some() {
            return Err(Error::invalid("ban_seconds needs eject: true"));
        }
        let wants_update = e.permissions.is_some() || e.role.is_some() || e.metadata.is_some();
        let plan = if wants_update {
            ctx.require(HostControl::ManageParticipants)?;
            let update = ParticipantUpdate {
                permissions: e.permissions.clone(),
                role: e.role.clone(),
                metadata: e.metadata.clone(),
                ..Default::default()
            };
            Some(self.plan_update(ctx, identity, update)?)
        } else {
            None
        };
        if sources.is_empty() && !e.eject && plan.is_none() {
            return Err(Error::invalid(
                "the update for this participant does nothing",
            ));
        }
        let can_send = match &plan {
            Some(plan) => plan.permissions.can_send.clone(),
            None => self.participants[identity].permissions().can_send.clone(),
        };
        if let Some((s, _)) = sources.iter().find(|(s, on)| *on && !can_send.contains(s)) {
            return Err(Error::precondition(format!(
                "'{identity}' may not send {}",
                s.as_str()
            )));
        }
        // Then apply, without checking again (an update may hide the target from the actor):
        // media while the target is as validated, then the update, eject last.
        let mut request_ids = Vec::new();
        for (source, on) in sources {
            let already_on = self.participants[identity]
                .tracks_of(source)
                .any(|t| !t.muted);
            if on && !already_on {
                match self.settings.remote_unmute {
                    crate::settings::RemoteUnmute::Ask => {
                        request_ids.push(self.add_request(now, ctx, identity, source).0);
                    }
                    _ => {
                        self.set_muted(identity, source, false, Some(&ctx.label));
                    }
                }
            } else if !on {
                self.set_muted(identity, source, true, Some(&ctx.label));
            }
        }
        if let Some(plan) = plan {
            self.apply_update(identity, plan, Some(ctx.label.clone()), None);
        }
        if e.eject {
            // Checked above; the target may have just become hidden, so no visibility re-check.
            self.eject(now, ctx, identity, true, e.ban_seconds);
        }
        Ok(request_ids)
    }
}

/// The (source, on) pairs a batch entry asks for. `set_screen` covers both screen sources.
fn entry_sources(e: &BatchEntry) -> Vec<(Source, bool)> {
    let mut v = Vec::new();
    if let Some(on) = e.set_audio {
        v.push((Source::Microphone, on));
    }
    if let Some(on) = e.set_video {
        v.push((Source::Camera, on));
    }
    if let Some(on) = e.set_screen {
        v.push((Source::ScreenVideo, on));
        v.push((Source::ScreenAudio, on));
    }
    v
}

/// The host controls a batch entry needs.
fn entry_controls(e: &BatchEntry) -> Vec<HostControl> {
    let mut v: Vec<HostControl> = entry_sources(e)
        .into_iter()
        .map(|(s, _)| s.mute_control())
        .collect();
    if e.eject {
        v.push(HostControl::Kick);
    }
    if e.permissions.is_some() || e.role.is_some() || e.metadata.is_some() {
        v.push(HostControl::ManageParticipants);
    }
    v
}

fn is_mute_only(e: &BatchEntry) -> bool {
    let sources = entry_sources(e);
    !sources.is_empty()
        && sources.iter().all(|(_, on)| !on)
        && !e.eject
        && e.ban_seconds.is_none()
        && e.permissions.is_none()
        && e.role.is_none()
        && e.metadata.is_none()
}
