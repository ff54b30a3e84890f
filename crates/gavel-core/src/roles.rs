//! Named permission presets (RealtimeKit calls them presets). Built-ins plus custom roles.

use crate::error::{Error, Result};
use crate::permissions::{all_sources, HostControl, Permissions};
use std::collections::BTreeMap;

/// The role registry shared by every room of a server.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: BTreeMap<String, Permissions>,
}

pub const HOST: &str = "host";
pub const PARTICIPANT: &str = "participant";
pub const VIEWER: &str = "viewer";
pub const OBSERVER: &str = "observer";

impl Default for Roles {
    fn default() -> Self {
        let participant = Permissions {
            can_send: all_sources(),
            can_receive: all_sources(),
            can_publish_data: true,
            can_update_own_metadata: true,
            hidden: false,
            host: Default::default(),
        };
        let host = Permissions {
            host: HostControl::ALL.into_iter().collect(),
            ..participant.clone()
        };
        let viewer = Permissions {
            can_send: Default::default(),
            can_publish_data: false,
            ..participant.clone()
        };
        let observer = Permissions {
            hidden: true,
            ..viewer.clone()
        };
        let roles = [
            (HOST, host),
            (PARTICIPANT, participant),
            (VIEWER, viewer),
            (OBSERVER, observer),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Roles { roles }
    }
}

impl Roles {
    /// Adds or replaces a role (custom roles from configuration).
    pub fn insert(&mut self, name: impl Into<String>, permissions: Permissions) {
        self.roles.insert(name.into(), permissions);
    }

    pub fn get(&self, name: &str) -> Result<&Permissions> {
        self.roles
            .get(name)
            .ok_or_else(|| Error::invalid(format!("unknown role '{name}'")))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_ins() {
        let r = Roles::default();
        assert_eq!(r.get(HOST).unwrap().host.len(), HostControl::ALL.len());
        assert!(r.get(PARTICIPANT).unwrap().host.is_empty());
        assert!(r.get(VIEWER).unwrap().can_send.is_empty());
        assert!(r.get(OBSERVER).unwrap().hidden);
        assert!(r.get("admin").is_err());
    }
}
