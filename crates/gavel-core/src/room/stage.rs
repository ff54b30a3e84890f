//! The stage (RealtimeKit's): a host with `stage` invites someone — a consent request they
//! accept or reject with `respond_request`, like a request to unmute — and accepting grants the
//! room's `stage_permissions` on top of their role; the host takes them off the stage again,
//! back to their role's permissions (tracks they may no longer send are unpublished, as for
//! any revocation). Everyone sees `stage_changed`, and who is on the stage is in snapshots.
//!
//! An audience member in a large room who comes on the stage may send, so it is listed and
//! announced first (the update path does that for anyone who may now send).

use super::{ActorCtx, Room};
use crate::command::{ParticipantUpdate, Reply};
use crate::error::{Error, Result};
use crate::event::{Audience, Event, RequestOutcome};
use crate::permissions::HostControl;
use crate::Millis;
use std::collections::{BTreeMap, BTreeSet};

/// Why a permission change came with the stage (the `reason` of its updates).
const STAGE: &str = "stage";

#[derive(Debug, Clone)]
struct Invite {
    target_identity: String,
    target_sid: String,
    from: String,
    from_sid: Option<String>,
    expires_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Stage {
    on: BTreeSet<String>,
    invites: BTreeMap<String, Invite>,
}

impl Stage {
    pub(super) fn has_invite(&self, id: &str) -> bool {
        self.invites.contains_key(id)
    }
    pub(super) fn next_expiry(&self) -> Option<Millis> {
        self.invites.values().map(|i| i.expires_at).min()
    }
    pub(super) fn members(&self) -> impl Iterator<Item = &String> {
        self.on.iter()
    }
    pub(super) fn clear(&mut self) {
        *self = Stage::default();
    }
}

impl Room {
    pub(super) fn invite_to_stage(
        &mut self,
        now: Millis,
        ctx: &ActorCtx,
        identity: &str,
    ) -> Result<Reply> {
        ctx.require(HostControl::Stage)?;
        let target = self.target(ctx, identity)?;
        if ctx.identity() == Some(identity) {
            return Err(Error::invalid("you cannot invite yourself to the stage"));
        }
        if self.stage.on.contains(identity) {
            return Err(Error::precondition(format!(
                "'{identity}' is on the stage already"
            )));
        }
        let target_sid = target.sid().to_string();
        if let Some((id, _)) = self
            .stage
            .invites
            .iter()
            .find(|(_, i)| i.target_identity == identity)
        {
            return Ok(Reply::Request {
                request_id: id.clone(),
                status: "pending".into(),
                deduplicated: true,
            });
        }
        let id = self.ids.next("RQ");
        let expires_at = now + u64::from(self.settings.request_timeout_seconds) * 1000;
        self.stage.invites.insert(
            id.clone(),
            Invite {
                target_identity: identity.to_string(),
                target_sid: target_sid.clone(),
                from: ctx.label.clone(),
                from_sid: ctx.sid.clone(),
                expires_at,
            },
        );
        self.emit(
            Audience::Only(target_sid),
            Event::StageInvited {
                request_id: id.clone(),
                from: ctx.label.clone(),
                expires_at,
            },
        );
        Ok(Reply::Request {
            request_id: id,
            status: "pending".into(),
            deduplicated: false,
        })
    }

    pub(super) fn respond_stage_invite(
        &mut self,
        ctx: &ActorCtx,
        request_id: &str,
        accept: bool,
    ) -> Result<Reply> {
        let mine = self
            .stage
            .invites
            .get(request_id)
            .is_some_and(|i| ctx.sid.as_deref() == Some(i.target_sid.as_str()));
        if !mine {
            return Err(Error::not_found(format!(
                "no pending request '{request_id}' for you"
            )));
        }
        let invite = self
            .stage
            .invites
            .remove(request_id)
            .expect("checked above");
        let outcome = if accept {
            RequestOutcome::Accepted
        } else {
            RequestOutcome::Rejected
        };
        let (identity, from) = (invite.target_identity.clone(), invite.from.clone());
        // The answer first, then what it changes.
        self.resolve_invite(request_id, invite, outcome);
        if accept {
            self.put_on_stage(&identity, &from);
        }
        Ok(Reply::done())
    }

    pub(super) fn remove_from_stage(&mut self, ctx: &ActorCtx, identity: &str) -> Result<Reply> {
        ctx.require(HostControl::Stage)?;
        let p = self.target(ctx, identity)?;
        if !self.stage.on.contains(identity) {
            return Err(Error::precondition(format!(
                "'{identity}' is not on the stage"
            )));
        }
        // Back to what the role gives (its role's permissions, clamped to the room).
        let update = ParticipantUpdate {
            role: Some(p.info.role.clone()),
            ..Default::default()
        };
        let plan = self.plan_update(&server(), identity, update)?;
        self.stage.on.remove(identity);
        self.apply_update(identity, plan, Some(ctx.label.clone()), Some(STAGE));
        self.emit_stage(identity, false, Some(ctx.label.clone()));
        Ok(Reply::done())
    }

    fn put_on_stage(&mut self, identity: &str, by: &str) {
        let update = ParticipantUpdate {
            permissions: Some((*self.settings.stage_permissions).clone()),
            ..Default::default()
        };
        // The server's authority: the room's own setting says what the stage grants.
        if let Ok(plan) = self.plan_update(&server(), identity, update) {
            self.stage.on.insert(identity.to_string());
            self.apply_update(identity, plan, Some(by.to_string()), Some(STAGE));
            self.emit_stage(identity, true, Some(by.to_string()));
        }
    }

    fn emit_stage(&mut self, identity: &str, on_stage: bool, by: Option<String>) {
        let Some(p) = self.participants.get(identity) else {
            return;
        };
        let to = self.about(p);
        self.emit(
            to,
            Event::StageChanged {
                identity: identity.to_string(),
                on_stage,
                by,
            },
        );
    }

    fn resolve_invite(&mut self, id: &str, invite: Invite, outcome: RequestOutcome) {
        let event = Event::StageInviteResolved {
            request_id: id.to_string(),
            identity: invite.target_identity.clone(),
            from: invite.from.clone(),
            outcome,
        };
        if self.by_sid.contains_key(&invite.target_sid) {
            self.emit(Audience::Only(invite.target_sid.clone()), event.clone());
        }
        if let Some(sid) = invite.from_sid.filter(|s| self.by_sid.contains_key(s)) {
            self.emit(Audience::Only(sid), event);
        }
    }

    pub(super) fn expire_stage_invites(&mut self, now: Millis) {
        let due: Vec<String> = self
            .stage
            .invites
            .iter()
            .filter(|(_, i)| i.expires_at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            let invite = self.stage.invites.remove(&id).expect("listed above");
            self.resolve_invite(&id, invite, RequestOutcome::Expired);
        }
    }

    /// A participant left: off the stage, and invitations to it (or its own, to others that
    /// nobody else can answer for) are cancelled.
    pub(super) fn forget_stage(&mut self, identity: &str, sid: &str) {
        self.stage.on.remove(identity);
        let ids: Vec<String> = self
            .stage
            .invites
            .iter()
            .filter(|(_, i)| i.target_identity == identity || i.from_sid.as_deref() == Some(sid))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let invite = self.stage.invites.remove(&id).expect("listed above");
            self.resolve_invite(&id, invite, RequestOutcome::Cancelled);
        }
    }

    /// Who is on the stage, among those `identity` may see (for its snapshot).
    pub(super) fn stage_for(&self, identity: &str) -> Vec<String> {
        self.stage
            .members()
            .filter(|m| *m == identity || self.participants.get(*m).is_some_and(|p| p.announced()))
            .cloned()
            .collect()
    }
}

fn server() -> ActorCtx {
    ActorCtx {
        label: STAGE.to_string(),
        sid: None,
        permissions: None,
    }
}
