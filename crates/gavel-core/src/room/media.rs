//! Tracks: publishing (enforcing `can_send`), self mute, host mute and mute-all, audio levels.

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, ErrorCode, Result};
use crate::event::{Audience, Event, UnpublishReason};
use crate::participant::TrackInfo;
use crate::permissions::{Source, SourceSet};
use crate::settings::RemoteUnmute;
use crate::Millis;

impl Room {
    /// `PublishTrack` from the wire: a track announced as state, without media. A participant
    /// with a media session publishes through it instead (see `forwarding.rs`).
    pub(super) fn publish_track(
        &mut self,
        ctx: &ActorCtx,
        source: Source,
        muted: bool,
        name: Option<String>,
    ) -> Result<Reply> {
        let identity = self.own_identity(ctx)?;
        if self.participants[identity].media_session {
            return Err(Error::precondition(
                "this participant has a media session: publish by offering the track in it",
            ));
        }
        self.publish(ctx, source, muted, name, false, None)
    }

    /// `ReserveTrack`: a sid for the track the sender's next offer will carry (see
    /// `Command::ReserveTrack`). Checked as a publish is, so a client learns of a refusal before
    /// it negotiates; the offer is checked again.
    pub(super) fn reserve_track(
        &mut self,
        ctx: &ActorCtx,
        source: Source,
        muted: bool,
        name: Option<String>,
    ) -> Result<Reply> {
        let (identity, name) = self.check_publishable(ctx, source, name)?;
        let p = &self.participants[&identity];
        let sid = match p.reserved.iter().find(|t| t.source == source) {
            Some(t) => t.sid.clone(),
            None => self.ids.next("TR"),
        };
        let track = TrackInfo {
            sid,
            source,
            muted,
            muted_by: None,
            name,
            media: true,
        };
        let p = self
            .participants
            .get_mut(&identity)
            .expect("actor is present");
        // At most one per source: the list never holds more than the four sources.
        p.reserved.retain(|t| t.source != source);
        p.reserved.push(track.clone());
        Ok(Reply::Track { track })
    }

    /// The actor's identity and the track's name, if the actor may publish a track of `source`
    /// now (it may send it, and has none yet).
    fn check_publishable(
        &self,
        ctx: &ActorCtx,
        source: Source,
        name: Option<String>,
    ) -> Result<(String, String)> {
        let identity = self.own_identity(ctx)?.to_string();
        let name = name.unwrap_or_default();
        crate::ids::validate_name(&name)?;
        let p = &self.participants[&identity];
        if !p.permissions().can_send.contains(&source) {
            return Err(Error::denied(format!(
                "'{identity}' may not send {}",
                source.as_str()
            )));
        }
        if p.tracks_of(source).next().is_some() {
            return Err(Error::new(
                ErrorCode::Conflict,
                format!("a {} track is already published", source.as_str()),
            ));
        }
        Ok((identity, name))
    }

    /// Publishes a track of `source` for the actor: with the sid `sid` when one was reserved,
    /// a new one otherwise.
    pub(super) fn publish(
        &mut self,
        ctx: &ActorCtx,
        source: Source,
        muted: bool,
        name: Option<String>,
        media: bool,
        sid: Option<String>,
    ) -> Result<Reply> {
        let (identity, name) = self.check_publishable(ctx, source, name)?;
        let track = TrackInfo {
            sid: sid.unwrap_or_else(|| self.ids.next("TR")),
            source,
            muted,
            muted_by: None,
            name,
            media,
        };
        let p = self
            .participants
            .get_mut(&identity)
            .expect("actor is present");
        p.info.tracks.push(track.clone());
        let to = self.about(&self.participants[&identity]);
        self.emit(
            to,
            Event::TrackPublished {
                identity,
                track: track.clone(),
            },
        );
        Ok(Reply::Track { track })
    }

    pub(super) fn unpublish_track(&mut self, ctx: &ActorCtx, track_sid: &str) -> Result<Reply> {
        let identity = self.own_identity(ctx)?.to_string();
        let source = self.participants[&identity]
            .info
            .tracks
            .iter()
            .find(|t| t.sid == track_sid)
            .map(|t| t.source)
            .ok_or_else(|| Error::not_found(format!("no track '{track_sid}'")))?;
        let to = self.about(&self.participants[&identity]);
        self.drop_tracks(
            &identity,
            &[source].into(),
            UnpublishReason::Unpublished,
            to,
        );
        Ok(Reply::done())
    }

    /// Removes every track of `identity` whose source is in `sources`, with events to `to`.
    pub(super) fn drop_tracks(
        &mut self,
        identity: &str,
        sources: &SourceSet,
        reason: UnpublishReason,
        to: Audience,
    ) {
        let Some(p) = self.participants.get_mut(identity) else {
            return;
        };
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut p.info.tracks)
            .into_iter()
            .partition(|t| sources.contains(&t.source));
        p.info.tracks = kept;
        for t in gone {
            self.emit(
                to.clone(),
                Event::TrackUnpublished {
                    identity: identity.to_string(),
                    track_sid: t.sid,
                    source: t.source,
                    reason,
                },
            );
        }
    }

    pub(super) fn set_own_track_muted(
        &mut self,
        ctx: &ActorCtx,
        track_sid: &str,
        muted: bool,
    ) -> Result<Reply> {
        let identity = self.own_identity(ctx)?.to_string();
        let source = self.participants[&identity]
            .info
            .tracks
            .iter()
            .find(|t| t.sid == track_sid)
            .map(|t| t.source)
            .ok_or_else(|| Error::not_found(format!("no track '{track_sid}'")))?;
        let changed = self.set_muted(&identity, source, muted, None);
        Ok(Reply::Muted { changed })
    }

    /// Sets the mute state of `identity`'s tracks of `source`; emits one `track_muted` per change.
    /// Returns how many tracks changed (already-in-state tracks are left alone: idempotent).
    pub(super) fn set_muted(
        &mut self,
        identity: &str,
        source: Source,
        muted: bool,
        by: Option<&str>,
    ) -> u32 {
        let Some(p) = self.participants.get_mut(identity) else {
            return 0;
        };
        let mut changed = Vec::new();
        for t in p.info.tracks.iter_mut().filter(|t| t.source == source) {
            if t.muted != muted {
                t.muted = muted;
                t.muted_by = if muted { by.map(str::to_string) } else { None };
                changed.push(t.sid.clone());
            }
        }
        let to = self.about(&self.participants[identity]);
        for track_sid in &changed {
            self.emit(
                to.clone(),
                Event::TrackMuted {
                    identity: Some(identity.to_string()),
                    track_sid: Some(track_sid.clone()),
                    source,
                    muted,
                    by: by.map(str::to_string),
                    all: false,
                    except: vec![],
                },
            );
        }
        changed.len() as u32
    }

    /// Host mute (forced) or remote unmute (by the room's `remote_unmute` policy).
    pub(super) fn host_mute(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        source: Source,
        muted: bool,
    ) -> Result<Reply> {
        ctx.require(source.mute_control())?;
        self.target(ctx, identity)?;
        if muted {
            let changed = self.set_muted(identity, source, true, Some(&ctx.label));
            return Ok(Reply::Muted { changed });
        }
        match self.settings.remote_unmute {
            RemoteUnmute::Off => Err(Error::precondition("remote unmute not enabled")),
            RemoteUnmute::Ask => self.open_request(now, ctx, identity, source),
            RemoteUnmute::Force => {
                let changed = self.set_muted(identity, source, false, Some(&ctx.label));
                Ok(Reply::Muted { changed })
            }
        }
    }

    /// Mutes every track of `source` except those of `except`, with one summary event.
    /// A host mute addressed by track sid: the track's source is muted (or, by the room's
    /// `remote_unmute` policy, unmuted or asked for), and the reply is the track afterwards
    /// (still muted while a consent request is pending).
    pub(super) fn mute_track(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        track_sid: &str,
        muted: bool,
    ) -> Result<Reply> {
        let source = self
            .target(ctx, identity)?
            .info
            .tracks
            .iter()
            .find(|t| t.sid == track_sid)
            .map(|t| t.source)
            .ok_or_else(|| Error::not_found(format!("no track '{track_sid}'")))?;
        self.host_mute(now, ctx, identity, source, muted)?;
        let track = self.participants[identity]
            .info
            .tracks
            .iter()
            .find(|t| t.sid == track_sid)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("no track '{track_sid}'")))?;
        Ok(Reply::Track { track })
    }

    pub(super) fn mute_all(
        &mut self,
        ctx: &ActorCtx,
        source: Source,
        except: &[String],
    ) -> Result<Reply> {
        ctx.require(source.mute_control())?;
        let changed = self.mute_all_unchecked(&ctx.label, source, except);
        // A participant learns nothing of hidden others from the count: it counts what it
        // can see (the server sees everyone).
        let seen = if ctx.is_server() {
            changed.all
        } else {
            changed.all - changed.hidden_others(ctx.identity())
        };
        Ok(Reply::Muted { changed: seen })
    }

    /// Mute-all after authorization. O(N) work; one `track_muted {all: true}` message to each
    /// participant, whatever the number of tracks muted.
    pub(super) fn mute_all_unchecked(
        &mut self,
        by: &str,
        source: Source,
        except: &[String],
    ) -> MutedCount {
        let mut changed = MutedCount::default();
        for (identity, p) in self.participants.iter_mut() {
            if except.iter().any(|e| e == identity) {
                continue;
            }
            let hidden = p.hidden();
            for t in p
                .info
                .tracks
                .iter_mut()
                .filter(|t| t.source == source && !t.muted)
            {
                t.muted = true;
                t.muted_by = Some(by.to_string());
                changed.all += 1;
                if hidden {
                    changed.hidden.push(identity.clone());
                }
            }
        }
        if changed.all > 0 {
            // Hidden identities are not echoed to everyone.
            let visible_except: Vec<String> = except
                .iter()
                .filter(|e| self.participants.get(*e).is_some_and(|p| p.announced()))
                .cloned()
                .collect();
            let summary = |except: Vec<String>| Event::TrackMuted {
                identity: None,
                track_sid: None,
                source,
                muted: true,
                by: Some(by.to_string()),
                all: true,
                except,
            };
            // An excepted hidden participant still sending this source would apply the rule to
            // itself; it alone gets a summary that names it (rare: then one event per session).
            let spared_hidden = |p: &crate::participant::Participant| {
                p.hidden()
                    && except.iter().any(|e| e == p.identity())
                    && p.tracks_of(source).any(|t| !t.muted)
            };
            if !self.participants.values().any(spared_hidden) {
                self.emit(Audience::Everyone, summary(visible_except));
            } else {
                let per_session: Vec<(String, Vec<String>)> = self
                    .participants
                    .values()
                    .map(|p| {
                        let mut except = visible_except.clone();
                        if spared_hidden(p) {
                            except.push(p.identity().to_string());
                        }
                        (p.sid().to_string(), except)
                    })
                    .collect();
                for (sid, except) in per_session {
                    self.emit(Audience::Only(sid), summary(except));
                }
            }
        }
        changed
    }

    pub(super) fn audio_level(&mut self, now: Millis, ctx: &ActorCtx, level: u8) -> Result<Reply> {
        let identity = self.own_identity(ctx)?.to_string();
        if level > 127 {
            return Err(Error::invalid("level must be 0 (loudest) to 127 (silence)"));
        }
        let p = &self.participants[&identity];
        // Levels only count from a live, visible microphone; a media session's levels come
        // from its packets (`Room::media_level`), never from what the client says.
        if p.has_live_microphone() && p.announced() && !p.media_session {
            self.speakers.observe(&identity, level, now);
        }
        Ok(Reply::done())
    }
}

/// Tracks a mute-all changed: all of them, and the owners of those on hidden participants
/// (one entry per track), so a participant's count can leave out what it may not see.
#[derive(Debug, Default)]
pub(super) struct MutedCount {
    all: u32,
    hidden: Vec<String>,
}

impl MutedCount {
    fn hidden_others(&self, me: Option<&str>) -> u32 {
        self.hidden
            .iter()
            .filter(|id| Some(id.as_str()) != me)
            .count() as u32
    }
}
