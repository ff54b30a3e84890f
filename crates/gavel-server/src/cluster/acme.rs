//! ACME in a cluster: what the nodes share so that every one serves the same certificate and
//! any one answers the CA, which validates against whichever node the name resolves to
//! (`tls/acme.rs` orders; this is its shared half).
//!
//! - **In the shared store** (`acme_shared`, `acme_challenges`, `acme_orderer`): the account's
//!   credentials, the issued chain and key, the challenges of the order in progress, and the
//!   order lock — one node orders at a time, the lock expiring by the database's clock, so a
//!   node that dies while ordering holds it ten minutes at most.
//! - **Over the bus**: the ordering node hands each challenge to every live node and waits for
//!   their answers before it tells the CA to look; a node that starts meanwhile reads them from
//!   the store. A stored certificate is announced on the cluster channel, and every node serves
//!   it at once (and looks again whenever it would renew).
//!
//! The key is in the database as it would be in the data directory: protect both alike.

use super::bus::{Bus, Envelope};
use super::forward::Answer;
use super::node::{Node, CLUSTER_CHANNEL};
use crate::store::StoreError;
use crate::tls::acme::{Challenge, ChallengeKind, Challenges};
use crate::tls::certs::ReloadingCert;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock, Weak};

/// A challenge for a node to answer too (asked; answered once it is installed).
pub const KIND_ACME_CHALLENGE: &str = "acme_challenge";
/// A new certificate is in the store (a notice on the cluster channel; body empty).
pub const KIND_ACME_ISSUED: &str = "acme_issued";

#[derive(Debug, Serialize, Deserialize)]
pub struct ChallengeMsg {
    pub id: u64,
    pub challenge: Challenge,
}

/// This node's share of the cluster's ACME state.
pub struct SharedAcme {
    node: Weak<Node>,
    /// What this node serves: the challenges it answers and its certificate.
    live: OnceLock<(Arc<Challenges>, Arc<ReloadingCert>)>,
    announced: tokio::sync::Notify,
}

fn unavailable(e: impl std::fmt::Display) -> String {
    format!("the cluster's ACME state: {e}")
}

impl SharedAcme {
    pub fn new(node: &Arc<Node>) -> Arc<SharedAcme> {
        let shared = Arc::new(SharedAcme {
            node: Arc::downgrade(node),
            live: OnceLock::new(),
            announced: tokio::sync::Notify::new(),
        });
        let _ = node.acme.set(shared.clone());
        shared
    }

    /// What this node serves, for the other nodes' challenges and announcements.
    pub fn attach(&self, challenges: Arc<Challenges>, cert: Arc<ReloadingCert>) {
        let _ = self.live.set((challenges, cert));
    }

    fn node(&self) -> Result<Arc<Node>, String> {
        self.node
            .upgrade()
            .ok_or_else(|| unavailable("this node has stopped"))
    }

    /// Runs `query` on the node's database connection (`cluster/lease.rs`).
    async fn db<T: Send + 'static>(
        &self,
        query: impl FnOnce(&mut postgres::Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, String> {
        let node = self.node()?;
        node.call(move |leases| leases.with(query))
            .await
            .map_err(|e: StoreError| unavailable(e.message))
    }

    async fn value(&self, name: &'static str) -> Result<Option<String>, String> {
        self.db(move |c| {
            c.query_opt("SELECT value FROM acme_shared WHERE name = $1", &[&name])
                .map(|row| row.map(|r| r.get(0)))
        })
        .await
    }

    async fn store(&self, name: &'static str, value: String) -> Result<(), String> {
        self.db(move |c| {
            c.execute(
                "INSERT INTO acme_shared (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                &[&name, &value],
            )
        })
        .await
        .map(drop)
    }

    /// The account's credentials (JSON), if one was made.
    pub async fn account(&self) -> Result<Option<String>, String> {
        self.value("account").await
    }

    pub async fn store_account(&self, credentials: &str) -> Result<(), String> {
        self.store("account", credentials.to_string()).await
    }

    /// The last issued chain and key (PEM), if any.
    pub async fn certificate(&self) -> Result<Option<(String, String)>, String> {
        let Some(text) = self.value("certificate").await? else {
            return Ok(None);
        };
        let stored: StoredCert = serde_json::from_str(&text).map_err(unavailable)?;
        Ok(Some((stored.chain, stored.key)))
    }

    pub async fn store_certificate(&self, chain: &str, key: &str) -> Result<(), String> {
        let stored = StoredCert {
            chain: chain.to_string(),
            key: key.to_string(),
        };
        let text = serde_json::to_string(&stored).map_err(unavailable)?;
        self.store("certificate", text).await
    }

    /// Takes the order lock: `true` if this node may order now.
    pub async fn lock(&self) -> Result<bool, String> {
        let me = self.node()?.id.clone();
        self.db(move |c| {
            c.query_opt(
                "INSERT INTO acme_orderer (id, node, until)
                 VALUES (1, $1, now() + interval '10 minutes')
                 ON CONFLICT (id) DO UPDATE SET node = EXCLUDED.node, until = EXCLUDED.until
                 WHERE acme_orderer.until < now() OR acme_orderer.node = EXCLUDED.node
                 RETURNING node",
                &[&me],
            )
            .map(|row| row.is_some())
        })
        .await
    }

    /// Ends this node's order: its challenges are forgotten, the lock is let go, and a new
    /// certificate (`issued`) is announced to every node.
    pub async fn finish(&self, issued: bool) {
        let Ok(node) = self.node() else { return };
        let me = node.id.clone();
        let done = self
            .db(move |c| {
                let mut tx = c.transaction()?;
                tx.execute("DELETE FROM acme_challenges", &[])?;
                tx.execute("DELETE FROM acme_orderer WHERE node = $1", &[&me])?;
                tx.commit()
            })
            .await;
        if let Err(e) = done {
            // The lock expires by itself; stale challenges are only answers nobody asks for.
            tracing::warn!(error = %e, "cannot end the cluster's ACME order");
        }
        if issued {
            let notice = Envelope::new(&node.id, KIND_ACME_ISSUED, Vec::new()).encode();
            if let Err(e) = node.bus.publish(CLUSTER_CHANNEL, notice).await {
                // Every node looks at the store again before it would renew.
                tracing::warn!(error = %e, "cannot announce the new certificate");
            }
        }
    }

    /// The challenges of the order in progress (for a node that starts meanwhile).
    pub async fn challenges(&self) -> Result<Vec<Challenge>, String> {
        let rows = self
            .db(|c| c.query("SELECT kind, key, answer FROM acme_challenges", &[]))
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let kind = match r.get::<_, String>(0).as_str() {
                    "tls-alpn-01" => ChallengeKind::TlsAlpn01,
                    "http-01" => ChallengeKind::Http01,
                    _ => return None,
                };
                Some(Challenge {
                    kind,
                    key: r.get(1),
                    answer: r.get(2),
                })
            })
            .collect())
    }

    /// Stores `challenge` and has every live node answer it too; fails if one cannot (the CA
    /// might ask that one).
    pub async fn publish_challenge(&self, challenge: &Challenge) -> Result<(), String> {
        let node = self.node()?;
        let (kind, key, answer) = (
            match challenge.kind {
                ChallengeKind::TlsAlpn01 => "tls-alpn-01",
                ChallengeKind::Http01 => "http-01",
            },
            challenge.key.clone(),
            challenge.answer.clone(),
        );
        self.db(move |c| {
            c.execute(
                "INSERT INTO acme_challenges (kind, key, answer) VALUES ($1, $2, $3)
                 ON CONFLICT (kind, key) DO UPDATE SET answer = EXCLUDED.answer",
                &[&kind, &key, &answer],
            )
        })
        .await?;
        let others = node
            .other_nodes()
            .await
            .map_err(|e| unavailable(e.message))?;
        let asks = others.iter().map(|to| {
            let node = node.clone();
            async move {
                let body = |id| {
                    let msg = ChallengeMsg {
                        id,
                        challenge: challenge.clone(),
                    };
                    serde_json::to_vec(&msg).expect("challenges serialize")
                };
                let answer = node.ask(to, KIND_ACME_CHALLENGE, body).await;
                match answer {
                    Ok(Answer::Done { result, .. }) if result.is_ok() => Ok(()),
                    Ok(Answer::Done { result, .. }) => Err(format!("{to}: {:?}", result.err())),
                    Ok(_) => Err(format!("{to}: an unexpected answer")),
                    Err(e) => Err(format!("{to}: {}", e.message)),
                }
            }
        });
        let failed: Vec<String> = futures_util::future::join_all(asks)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "nodes that cannot answer the ACME challenge: {}",
                failed.join("; ")
            ))
        }
    }

    /// Another node's challenge: answered here too from now on.
    pub fn answer(&self, challenge: &Challenge) -> Result<(), String> {
        match self.live.get() {
            Some((challenges, _)) => challenges.install(challenge),
            None => Err("this node has not started its TLS yet".into()),
        }
    }

    /// Another node stored a new certificate: serve it, and forget the order's challenges.
    pub async fn on_issued(&self) {
        if let Some((challenges, cert)) = self.live.get() {
            challenges.clear();
            match self.certificate().await {
                Ok(Some((chain, key))) => match crate::tls::acme::parse_pem(&chain, &key) {
                    Ok(stored) => cert.replace(stored),
                    Err(e) => tracing::error!(error = %e, "the announced certificate is unusable"),
                },
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the announced certificate"),
            }
        }
        self.announced.notify_waiters();
    }

    /// Resolves when another node announces a new certificate.
    pub async fn announced(&self) {
        self.announced.notified().await;
    }
}

#[derive(Serialize, Deserialize)]
struct StoredCert {
    chain: String,
    key: String,
}
