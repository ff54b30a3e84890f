//! Presets: capabilities reserved for an identity before (or while) it is in the room — Chime's
//! attendee capabilities. A preset replaces the identity's send/receive permissions whenever it
//! joins (or is moved in), and setting one applies it at once to a present participant, with
//! the usual events (tracks it may no longer send are unpublished).

use super::{ActorCtx, Room};
use crate::command::{ParticipantUpdate, Reply, TargetResult};
use crate::error::{Error, Result};
use crate::event::Output;
use crate::ids;
use crate::permissions::{Capabilities, HostControl, PermissionsPatch};
use std::collections::BTreeMap;

/// Most presets one room keeps (Chime allows 250 attendees per meeting; this bounds memory).
pub const MAX_PRESETS: usize = 10_000;

impl Room {
    /// The preset of `identity`, if it has one.
    pub fn preset(&self, identity: &str) -> Option<Capabilities> {
        self.presets.get(identity).copied()
    }

    /// Every preset, by identity.
    pub fn presets(&self) -> impl Iterator<Item = (&str, &Capabilities)> {
        self.presets.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Reinstates a preset kept in durable storage (when a room is opened again).
    pub fn restore_preset(&mut self, identity: &str, capabilities: Capabilities) {
        self.presets.insert(identity.to_string(), capabilities);
    }

    pub(super) fn set_preset(
        &mut self,
        ctx: &ActorCtx,
        identity: &str,
        capabilities: Option<Capabilities>,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        ids::validate_identity(identity)?;
        let caps = match capabilities {
            Some(c) => {
                self.check_capabilities(&c)?;
                c
            }
            None => Capabilities::defaults(
                self.settings.video_max_resolution,
                self.settings.content_max_resolution,
            ),
        };
        if !self.presets.contains_key(identity) && self.presets.len() >= MAX_PRESETS {
            return Err(Error::precondition(format!(
                "a room keeps at most {MAX_PRESETS} presets"
            )));
        }
        let plan = self.plan_preset(ctx, identity, caps)?;
        self.store_preset(identity, caps);
        if let Some(plan) = plan {
            self.apply_update(identity, plan, Some(ctx.label.clone()), None);
        }
        Ok(Reply::Preset {
            identity: identity.to_string(),
            capabilities: caps,
        })
    }

    /// Every identity with a preset, except `except` (and, for a participant actor, those hidden
    /// from it), gets `capabilities`. Checked whole before anything changes.
    pub(super) fn set_presets_except(
        &mut self,
        ctx: &ActorCtx,
        except: &[String],
        capabilities: Capabilities,
    ) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        self.check_capabilities(&capabilities)?;
        let targets: Vec<String> = self
            .presets
            .keys()
            .filter(|id| !except.contains(id))
            .filter(|id| self.target(ctx, id).is_ok() || !self.participants.contains_key(*id))
            .cloned()
            .collect();
        let mut plans = Vec::with_capacity(targets.len());
        for identity in &targets {
            plans.push(self.plan_preset(ctx, identity, capabilities)?);
        }
        let mut results = BTreeMap::new();
        for (identity, plan) in targets.into_iter().zip(plans) {
            self.store_preset(&identity, capabilities);
            if let Some(plan) = plan {
                self.apply_update(&identity, plan, Some(ctx.label.clone()), None);
            }
            results.insert(identity, TargetResult::ok());
        }
        Ok(Reply::Results { results })
    }

    pub(super) fn drop_preset(&mut self, ctx: &ActorCtx, identity: &str) -> Result<Reply> {
        ctx.require(HostControl::ManageParticipants)?;
        if self.presets.remove(identity).is_none() {
            return Err(Error::not_found(format!("'{identity}' has no preset")));
        }
        self.outputs.push_back(Output::PresetChanged {
            identity: identity.to_string(),
            capabilities: None,
        });
        Ok(Reply::done())
    }

    /// After an `update_participant` that set capabilities: an identity with a preset keeps the
    /// new ones for its next join too.
    pub(super) fn refresh_preset(&mut self, identity: &str, capabilities: Capabilities) {
        if self.presets.contains_key(identity) {
            self.store_preset(identity, capabilities);
        }
    }

    /// Seed 004's rules against this room's resolutions.
    fn check_capabilities(&self, c: &Capabilities) -> Result<()> {
        c.validate(
            self.settings.video_max_resolution,
            self.settings.content_max_resolution,
        )
    }

    /// The live update a preset means for a present participant (`None` when absent).
    fn plan_preset(
        &self,
        ctx: &ActorCtx,
        identity: &str,
        caps: Capabilities,
    ) -> Result<Option<super::update::Planned>> {
        let Some(p) = self.participants.get(identity) else {
            return Ok(None);
        };
        let wanted = caps.apply_to(p.permissions());
        let update = ParticipantUpdate {
            permissions: Some(PermissionsPatch {
                can_send: Some(wanted.can_send),
                can_receive: Some(wanted.can_receive),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.plan_update(ctx, identity, update).map(Some)
    }

    fn store_preset(&mut self, identity: &str, caps: Capabilities) {
        if self.presets.insert(identity.to_string(), caps) != Some(caps) {
            self.outputs.push_back(Output::PresetChanged {
                identity: identity.to_string(),
                capabilities: Some(caps),
            });
        }
    }
}
