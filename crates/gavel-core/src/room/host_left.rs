//! When the last host leaves (`settings.host_left`): nothing (`keep`), the end of the session
//! for everyone (`end`), or a new host (`promote`), after a grace period that a host coming
//! back — a new join, or a connection that resumes (the room never saw it go) — calls off.
//!
//! "A host" is whoever holds every control of `host_left.host_controls`, whatever its role is
//! called. The room looks only when a host came, went or changed powers (`hosts_changed`,
//! set by admit, remove and updates), so a room of thousands pays nothing per ordinary join.
//! The outcome is audited like a host action of the room itself (actor `host_left`).

use super::Room;
use crate::command::{Command, ParticipantUpdate};

use crate::event::{Audience, Event, LeaveReason, Output};
use crate::settings::HostLeftAction;
use crate::Millis;

/// The actor the audit log names for what the room does when its last host left, and the
/// `reason` of the role change a promotion makes.
pub const HOST_LEFT: &str = "host_left";

impl Room {
    /// After an input that may have changed who the hosts are: starts the grace period when
    /// the last host is gone, or calls it off when one is back.
    pub(super) fn watch_hosts(&mut self, now: Millis) {
        if !std::mem::take(&mut self.hosts_changed) {
            return;
        }
        let policy = &self.settings.host_left;
        let host = self
            .participants
            .values()
            .find(|p| policy.is_host(p.permissions()))
            .map(|p| p.identity().to_string());
        match (host, self.host_left_at) {
            (Some(identity), Some(_)) => {
                self.host_left_at = None;
                self.had_host = true;
                self.emit(Audience::Everyone, Event::HostReturned { identity });
            }
            (Some(_), None) => self.had_host = true,
            (None, None)
                if self.had_host
                    && policy.action != HostLeftAction::Keep
                    && !self.participants.is_empty() =>
            {
                let at = now + u64::from(policy.grace_seconds) * 1000;
                self.host_left_at = Some(at);
                let action = policy.action;
                self.emit(Audience::Everyone, Event::HostLeft { action, at });
            }
            (None, _) => {}
        }
    }

    /// The grace period ended with no host back: the room's `host_left` action happens.
    pub(super) fn host_left_due(&mut self, now: Millis) {
        match self.host_left_at {
            Some(at) if at <= now => self.host_left_at = None,
            _ => return,
        }
        // Everyone left meanwhile: nothing to end and nobody to promote (and nothing to audit).
        if self.participants.is_empty() {
            return;
        }
        match self.settings.host_left.action {
            HostLeftAction::Keep => {}
            HostLeftAction::End => {
                self.audit_host_left("end_session", Vec::new(), Command::EndSession);
                self.end_breakouts();
                self.close_all(LeaveReason::HostLeft, None);
            }
            HostLeftAction::Promote => self.promote(now),
        }
    }

    /// Gives the host role to the longest-present participant of the promoted role (the
    /// earliest join; identity order among equals). With nobody of that role present the room
    /// goes on without a host (one who joins later is simply its host).
    fn promote(&mut self, now: Millis) {
        let policy = (*self.settings.host_left).clone();
        let candidate = self
            .participants
            .values()
            .filter(|p| p.info.role == policy.promote_role)
            .min_by(|a, b| (a.info.joined_at, a.identity()).cmp(&(b.info.joined_at, b.identity())))
            .map(|p| p.identity().to_string());
        let Some(identity) = candidate else {
            return;
        };
        let update = ParticipantUpdate {
            role: Some(policy.host_role.clone()),
            ..Default::default()
        };
        let server = super::ActorCtx {
            label: HOST_LEFT.to_string(),
            sid: None,
            permissions: None,
        };
        let command = Command::UpdateParticipant {
            identity: identity.clone(),
            permissions: None,
            role: Some(policy.host_role.clone()),
            name: None,
            metadata: None,
            attributes: None,
            capabilities: None,
        };
        match self.plan_update(&server, &identity, update) {
            Ok(plan) => {
                self.audit_host_left("update_participant", vec![identity.clone()], command);
                self.apply_update(&identity, plan, None, Some(HOST_LEFT));
                self.watch_hosts(now);
            }
            Err(e) => {
                // The configured role vanished from the server's roles: audited, nothing else.
                self.outputs.push_back(Output::HostAction {
                    actor: HOST_LEFT.to_string(),
                    action: "update_participant",
                    targets: vec![identity],
                    command: Box::new(command),
                    outcome: Err(e),
                });
            }
        }
    }

    fn audit_host_left(&mut self, action: &'static str, targets: Vec<String>, command: Command) {
        self.outputs.push_back(Output::HostAction {
            actor: HOST_LEFT.to_string(),
            action,
            targets,
            command: Box::new(command),
            outcome: Ok(()),
        });
    }
}
