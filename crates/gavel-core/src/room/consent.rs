//! Consent requests: "please turn on your microphone" (VideoSDK's `enable_mic`), and remote
//! unmute under the `ask` policy. Unlike VideoSDK, every asker learns the outcome.

use super::{ActorCtx, Room};
use crate::command::Reply;
use crate::error::{Error, Result};
use crate::event::{Audience, Event, Output, RequestOutcome};
use crate::permissions::{HostControl, Source};
use crate::Millis;

/// Who asked: the label shown to the target, and the session to tell (none for the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asker {
    pub label: String,
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    pub id: String,
    pub target_identity: String,
    pub target_sid: String,
    pub source: Source,
    /// Everyone who asked while it was pending (requests are deduplicated per target and source).
    pub askers: Vec<Asker>,
    pub expires_at: Millis,
}

impl Room {
    pub(super) fn request_media(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        source: Source,
    ) -> Result<Reply> {
        ctx.require(HostControl::RequestMedia)?;
        self.open_request(now, ctx, identity, source)
    }

    /// Opens (or joins) a consent request; the caller has authorized it.
    pub(super) fn open_request(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        source: Source,
    ) -> Result<Reply> {
        let target = self.target(ctx, identity)?;
        if ctx.identity() == Some(identity) {
            return Err(Error::invalid("you cannot send a request to yourself"));
        }
        if !target.permissions().can_send.contains(&source) {
            return Err(Error::precondition(format!(
                "'{identity}' may not send {}",
                source.as_str()
            )));
        }
        if target.tracks_of(source).any(|t| !t.muted) {
            return Err(Error::precondition(format!(
                "'{identity}' already sends {}",
                source.as_str()
            )));
        }
        let (request_id, deduplicated) = self.add_request(now, ctx, identity, source);
        Ok(Reply::Request {
            request_id,
            status: "pending".into(),
            deduplicated,
        })
    }

    /// Opens a consent request, or joins the pending one for the same target and source.
    /// Everything is checked already. Returns the request id and whether it was deduplicated.
    pub(super) fn add_request(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
        source: Source,
    ) -> (String, bool) {
        let target_sid = self.participants[identity].sid().to_string();
        let asker = Asker {
            label: ctx.label.clone(),
            sid: ctx.sid.clone(),
        };
        if let Some(r) = self
            .requests
            .values_mut()
            .find(|r| r.target_identity == identity && r.source == source)
        {
            if !r.askers.contains(&asker) {
                r.askers.push(asker);
            }
            return (r.id.clone(), true);
        }
        let id = self.ids.next("RQ");
        let expires_at = now + u64::from(self.settings.request_timeout_seconds) * 1000;
        self.requests.insert(
            id.clone(),
            PendingRequest {
                id: id.clone(),
                target_identity: identity.to_string(),
                target_sid: target_sid.clone(),
                source,
                askers: vec![asker],
                expires_at,
            },
        );
        self.emit(
            Audience::Only(target_sid),
            Event::MediaRequested {
                request_id: id.clone(),
                source,
                from: ctx.label.clone(),
                expires_at,
            },
        );
        (id, false)
    }

    pub(super) fn respond_request(
        &mut self,
        ctx: &ActorCtx,
        request_id: &str,
        accept: bool,
    ) -> Result<Reply> {
        let mine = self
            .requests
            .get(request_id)
            .is_some_and(|r| ctx.sid.as_deref() == Some(r.target_sid.as_str()));
        if !mine {
            return Err(Error::not_found(format!(
                "no pending request '{request_id}' for you"
            )));
        }
        let r = self.requests.remove(request_id).expect("checked above");
        if accept {
            // Consent given: a track the host had muted comes back on.
            self.set_muted(&r.target_identity, r.source, false, None);
        }
        let outcome = if accept {
            RequestOutcome::Accepted
        } else {
            RequestOutcome::Rejected
        };
        self.resolve(r, outcome, true);
        Ok(Reply::done())
    }

    /// Tells the target (if `tell_target`) and every asker still here how a request ended.
    fn resolve(&mut self, r: PendingRequest, outcome: RequestOutcome, tell_target: bool) {
        let askers: Vec<String> = r.askers.iter().map(|a| a.label.clone()).collect();
        let from = askers.join(",");
        let event = |from: String| Event::RequestResolved {
            request_id: r.id.clone(),
            source: r.source,
            identity: r.target_identity.clone(),
            from,
            outcome,
        };
        if tell_target {
            self.emit(Audience::Only(r.target_sid.clone()), event(from));
        }
        for a in &r.askers {
            if let Some(sid) = a.sid.as_ref().filter(|s| self.by_sid.contains_key(*s)) {
                self.emit(Audience::Only(sid.clone()), event(a.label.clone()));
            }
        }
        self.outputs.push_back(Output::RequestResolved {
            request_id: r.id,
            outcome,
        });
    }

    pub(super) fn expire_requests(&mut self, now: Millis) {
        let due: Vec<String> = self
            .requests
            .values()
            .filter(|r| r.expires_at <= now)
            .map(|r| r.id.clone())
            .collect();
        for id in due {
            let r = self.requests.remove(&id).expect("listed above");
            self.resolve(r, RequestOutcome::Expired, true);
        }
    }

    /// A participant left: requests to it are cancelled; so are requests whose last asker it was.
    pub(super) fn cancel_requests_of(&mut self, identity: &str, sid: &str) {
        let mut cancelled = Vec::new();
        for r in self.requests.values_mut() {
            if r.target_identity == identity {
                cancelled.push((r.id.clone(), false));
                continue;
            }
            if r.askers.iter().all(|a| a.sid.as_deref() == Some(sid)) {
                // Keep the askers so the target's `request_resolved` says whose request ended.
                cancelled.push((r.id.clone(), true));
            } else {
                r.askers.retain(|a| a.sid.as_deref() != Some(sid));
            }
        }
        for (id, tell_target) in cancelled {
            let r = self.requests.remove(&id).expect("listed above");
            self.resolve(r, RequestOutcome::Cancelled, tell_target);
        }
    }

    /// Every request to a participant that just became hidden is cancelled: to the askers it
    /// is gone, as if it had left (they are told now, while they still know it).
    pub(super) fn cancel_requests_to(&mut self, identity: &str) {
        let ids: Vec<String> = self
            .requests
            .values()
            .filter(|r| r.target_identity == identity)
            .map(|r| r.id.clone())
            .collect();
        for id in ids {
            let r = self.requests.remove(&id).expect("listed above");
            self.resolve(r, RequestOutcome::Cancelled, true);
        }
    }

    /// Requests for sources the target may no longer send are cancelled.
    pub(super) fn cancel_requests_for_revoked(&mut self, identity: &str) {
        let Some(p) = self.participants.get(identity) else {
            return;
        };
        let allowed = p.permissions().can_send.clone();
        let ids: Vec<String> = self
            .requests
            .values()
            .filter(|r| r.target_identity == identity && !allowed.contains(&r.source))
            .map(|r| r.id.clone())
            .collect();
        for id in ids {
            let r = self.requests.remove(&id).expect("listed above");
            self.resolve(r, RequestOutcome::Cancelled, true);
        }
    }
}
