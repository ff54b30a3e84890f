//! Automatic certificates through ACME (`[tls.acme]`): Let's Encrypt by default, any RFC 8555
//! CA by its directory URL, with `instant-acme` speaking the protocol.
//!
//! - **Challenges are answered by this server itself**: TLS-ALPN-01 (the default; needs only
//!   the HTTPS port) by handing a handshake that asks for `acme-tls/1` the challenge
//!   certificate for its name ([`Challenges`], read by `certs::ReloadingCert`; such a
//!   connection is closed after the handshake, never served), or HTTP-01 on the plain-HTTP
//!   port (`redirect_from`, which must be reachable on port 80).
//! - **Cached in the data directory** (`acme/`): the account's credentials and the issued
//!   chain and key (the key readable by the owner only), so a restart serves the same
//!   certificate without a new order.
//! - **Renewed** when less than a third of its lifetime is left, checked every hour; a failed
//!   order is retried with exponential backoff (1 minute to 1 hour) and counted
//!   (`gavel_acme_orders_total{outcome}`). The certificate is swapped like a reloaded file:
//!   open connections keep theirs.
//! - Until the first certificate is issued, handshakes get a self-signed placeholder for the
//!   configured names, so the server starts at once.
//! - **In a cluster** every node serves the same certificate, and any node answers the CA
//!   (which reaches whichever node the name resolves to): the account, the certificate and
//!   the challenges in progress live in the shared store, one node at a time orders (a lock
//!   there), and it hands each challenge to every live node over the bus before telling the CA
//!   it is ready; a stored certificate is announced on the bus and adopted by every node
//!   (`cluster/acme.rs`).

use super::certs::ReloadingCert;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// The ALPN protocol of TLS-ALPN-01 (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

/// `[tls.acme]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    /// The names the certificate is for (DNS names that point at this server).
    pub domains: Vec<String>,
    /// Contact addresses for the CA (`mailto:ops@example.com`).
    #[serde(default)]
    pub contact: Vec<String>,
    /// The CA's directory URL.
    #[serde(default = "lets_encrypt")]
    pub directory: String,
    #[serde(default)]
    pub challenge: ChallengeKind,
    /// An extra root (PEM) to trust when talking to the directory: a private ACME CA.
    #[serde(default)]
    pub directory_ca: Option<PathBuf>,
}

fn lets_encrypt() -> String {
    LETS_ENCRYPT.to_string()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChallengeKind {
    /// Answered on the HTTPS port.
    #[default]
    TlsAlpn01,
    /// Answered on the plain-HTTP port (`redirect_from`).
    Http01,
}

/// One challenge's answer, as the nodes of a cluster share it: for TLS-ALPN-01 the name and
/// the key authorization's digest (hex), for HTTP-01 the token and the key authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub kind: ChallengeKind,
    pub key: String,
    pub answer: String,
}

/// Challenges in progress, for the handshakes and the plain-HTTP port to answer.
#[derive(Debug, Default)]
pub struct Challenges {
    /// TLS-ALPN-01: the challenge certificate by name.
    tls_alpn: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01: the key authorization by token.
    http: RwLock<HashMap<String, String>>,
}

impl Challenges {
    pub fn tls_alpn_cert(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.tls_alpn
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    pub fn http_response(&self, token: &str) -> Option<String> {
        self.http
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// Starts answering `c` (on this node; `order` shares it with the others).
    pub fn install(&self, c: &Challenge) -> Result<(), String> {
        match c.kind {
            ChallengeKind::TlsAlpn01 => {
                let digest = hex::decode(&c.answer)
                    .map_err(|_| "a TLS-ALPN-01 answer is the digest in hex".to_string())?;
                let name = c.key.to_ascii_lowercase();
                let answer = tls_alpn_certificate(&name, &digest)?;
                self.tls_alpn
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name, answer);
            }
            ChallengeKind::Http01 => {
                self.http
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(c.key.clone(), c.answer.clone());
            }
        }
        Ok(())
    }

    pub fn clear(&self) {
        self.tls_alpn
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.http.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Checks what `[tls.acme]` cannot work without.
pub fn validate(acme: &AcmeConfig, redirect_from: bool) -> Result<(), String> {
    if acme.domains.is_empty() || acme.domains.iter().any(|d| d.is_empty()) {
        return Err("[tls.acme] domains must name at least one domain".into());
    }
    if acme.challenge == ChallengeKind::Http01 && !redirect_from {
        return Err(
            "[tls.acme] challenge = \"http-01\" is answered on the plain-HTTP port: set [tls] redirect_from (port 80)"
                .into(),
        );
    }
    Ok(())
}

/// Where the cache lives under the data directory.
fn cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("acme")
}

/// The certificate to start with: the cached one if there is one, else a self-signed
/// placeholder for the configured names.
pub fn first_certificate(
    acme: &AcmeConfig,
    data_dir: Option<&Path>,
) -> Result<Arc<CertifiedKey>, String> {
    if let Some(dir) = data_dir.map(cache_dir) {
        if let Ok(cert) = super::certs::load(&dir.join("cert.pem"), &dir.join("key.pem")) {
            return Ok(cert);
        }
    }
    placeholder(&acme.domains)
}

fn placeholder(domains: &[String]) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let cert = rcgen::CertificateParams::new(domains.to_vec())
        .and_then(|p| p.self_signed(&key))
        .map_err(|e| format!("cannot make a placeholder certificate: {e}"))?;
    certified(cert.der().to_vec(), key.serialize_der())
}

fn certified(cert: Vec<u8>, key_pkcs8: Vec<u8>) -> Result<Arc<CertifiedKey>, String> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(key_pkcs8.into());
    CertifiedKey::from_der(vec![cert.into()], key, &provider)
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The shared store and bus of a cluster, when this node is in one (`cluster/acme.rs`).
pub type Shared = Option<Arc<crate::cluster::acme::SharedAcme>>;

/// Starts the task that orders and renews the certificate into `cert`.
pub fn start(
    acme: AcmeConfig,
    data_dir: Option<PathBuf>,
    cert: Arc<ReloadingCert>,
    challenges: Arc<Challenges>,
    metrics: Arc<crate::metrics::Metrics>,
    shared: Shared,
) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(60);
        if let Some(shared) = &shared {
            // Challenges of an order another node is running now.
            match shared.challenges().await {
                Ok(list) => list.iter().for_each(|c| {
                    let _ = challenges.install(c);
                }),
                Err(e) => tracing::warn!(error = %e, "cannot read the cluster's ACME challenges"),
            }
        }
        loop {
            adopt_shared(&shared, &cert).await;
            if let Some(wait) = renewal_due(&cert) {
                sleep_or_announced(&shared, wait.min(Duration::from_secs(3600))).await;
                continue;
            }
            // In a cluster, one node orders at a time; the others adopt what it stores.
            if let Some(shared) = &shared {
                match shared.lock().await {
                    Ok(true) => {}
                    Ok(false) => {
                        sleep_or_announced(&Some(shared.clone()), Duration::from_secs(60)).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take the cluster's ACME order lock");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                }
                // The node that held the lock before may have just stored a new certificate.
                adopt_shared(&Some(shared.clone()), &cert).await;
                if renewal_due(&cert).is_some() {
                    shared.finish(false).await;
                    continue;
                }
            }
            let outcome = order(&acme, data_dir.as_deref(), &challenges, &shared).await;
            let issued = outcome.is_ok();
            match outcome {
                Ok(certificate) => {
                    cert.replace(certificate);
                    backoff = Duration::from_secs(60);
                    metrics.acme_order("issued");
                    tracing::info!(domains = ?acme.domains, "certificate issued by ACME");
                }
                Err(e) => {
                    metrics.acme_order("failed");
                    tracing::error!(error = %e, retry_in = ?backoff, "ACME order failed");
                }
            }
            if let Some(shared) = &shared {
                shared.finish(issued).await;
            }
            challenges.clear();
            if !issued {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(3600));
            }
        }
    });
}

/// Serves the certificate in the cluster's store when it differs from the one in use (another
/// node ordered it).
async fn adopt_shared(shared: &Shared, cert: &ReloadingCert) {
    let Some(shared) = shared else { return };
    match shared.certificate().await {
        Ok(Some((chain, key))) => match parse_pem(&chain, &key) {
            Ok(stored) if stored.cert != cert.current().cert => {
                cert.replace(stored);
                tracing::info!("serving the certificate in the cluster's store");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "the cluster's stored certificate is unusable"),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the cluster's certificate"),
    }
}

/// Sleeps `wait`, or less when another node announces a new certificate.
async fn sleep_or_announced(shared: &Shared, wait: Duration) {
    match shared {
        Some(s) => {
            let _ = tokio::time::timeout(wait, s.announced()).await;
        }
        None => tokio::time::sleep(wait).await,
    }
}

/// `None` when the certificate in use must be ordered now (a placeholder, or less than a
/// third of its lifetime left); otherwise how long until it must.
fn renewal_due(cert: &ReloadingCert) -> Option<Duration> {
    let current = cert.current();
    let leaf = current.cert.first()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    // A placeholder is self-signed: its issuer is itself.
    if parsed.issuer() == parsed.subject() {
        return None;
    }
    let from = parsed.validity().not_before.timestamp();
    let until = parsed.validity().not_after.timestamp();
    let renew_at = until - (until - from) / 3;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    (renew_at > now).then(|| Duration::from_secs((renew_at - now) as u64))
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One order, from account to certificate; the result is cached before it is returned.
async fn order(
    acme: &AcmeConfig,
    data_dir: Option<&Path>,
    challenges: &Challenges,
    shared: &Shared,
) -> Result<Arc<CertifiedKey>, String> {
    let account = account(acme, data_dir, shared).await?;
    let identifiers: Vec<Identifier> = acme.domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = account
        .new_order(&NewOrder::new(&identifiers))
        .await
        .map_err(err)?;
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(err)?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => return Err(format!("authorization is {other:?}")),
        }
        let kind = match acme.challenge {
            ChallengeKind::TlsAlpn01 => ChallengeType::TlsAlpn01,
            ChallengeKind::Http01 => ChallengeType::Http01,
        };
        let mut challenge = authz
            .challenge(kind.clone())
            .ok_or_else(|| format!("the CA offers no {kind:?} challenge"))?;
        let name = challenge.identifier().to_string().to_ascii_lowercase();
        let key_authorization = challenge.key_authorization();
        let answer = match acme.challenge {
            ChallengeKind::TlsAlpn01 => Challenge {
                kind: ChallengeKind::TlsAlpn01,
                key: name,
                answer: hex::encode(key_authorization.digest()),
            },
            ChallengeKind::Http01 => Challenge {
                kind: ChallengeKind::Http01,
                key: challenge.token.clone(),
                answer: key_authorization.as_str().to_string(),
            },
        };
        challenges.install(&answer)?;
        if let Some(shared) = shared {
            // The CA may reach any node: each answers before the CA is told to look.
            shared.publish_challenge(&answer).await?;
        }
        challenge.set_ready().await.map_err(err)?;
    }
    let status = order
        .poll_ready(&RetryPolicy::default())
        .await
        .map_err(err)?;
    if status != OrderStatus::Ready {
        return Err(format!("the order is {status:?}"));
    }
    let key_pem = order.finalize().await.map_err(err)?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::default())
        .await
        .map_err(err)?;
    let issued = parse_pem(&chain_pem, &key_pem)?;
    if let Some(shared) = shared {
        shared.store_certificate(&chain_pem, &key_pem).await?;
    }
    if let Some(dir) = data_dir.map(cache_dir) {
        save(&dir, "cert.pem", chain_pem.as_bytes(), false)?;
        save(&dir, "key.pem", key_pem.as_bytes(), true)?;
    }
    Ok(issued)
}

/// The account: restored from the cache, or created (and cached).
/// In a cluster, the account in the shared store comes first, and a new one is stored there.
async fn account(
    acme: &AcmeConfig,
    data_dir: Option<&Path>,
    shared: &Shared,
) -> Result<Account, String> {
    let builder = || match &acme.directory_ca {
        Some(ca) => Account::builder_with_root(ca).map_err(err),
        None => Account::builder().map_err(err),
    };
    if let Some(shared) = shared {
        if let Some(text) = shared.account().await? {
            if let Ok(credentials) = serde_json::from_str::<AccountCredentials>(&text) {
                return builder()?.from_credentials(credentials).await.map_err(err);
            }
        }
    }
    let cached = data_dir.map(|d| cache_dir(d).join("account.json"));
    if let Some(path) = &cached {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(credentials) = serde_json::from_str::<AccountCredentials>(&text) {
                return builder()?.from_credentials(credentials).await.map_err(err);
            }
        }
    }
    let contact: Vec<&str> = acme.contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            acme.directory.clone(),
            None,
        )
        .await
        .map_err(err)?;
    if let Some(shared) = shared {
        let json = serde_json::to_string(&credentials).map_err(err)?;
        shared.store_account(&json).await?;
    }
    if let Some(path) = &cached {
        let json = serde_json::to_vec(&credentials).map_err(err)?;
        save(
            path.parent().expect("in the cache dir"),
            "account.json",
            &json,
            true,
        )?;
    }
    Ok(account)
}

/// The self-signed certificate that answers a TLS-ALPN-01 challenge for `name`: it carries
/// the key authorization's digest in the acmeIdentifier extension (RFC 8737).
fn tls_alpn_certificate(name: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, String> {
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).map_err(err)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(err)?;
    // Not `CertifiedKey::from_der`: it parses the certificate to match it with its key, and
    // the acmeIdentifier extension is critical and unknown to that parser.
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(rustls_pki_types::PrivateKeyDer::Pkcs8(
            key.serialize_der().into(),
        ))
        .map_err(err)?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

pub(crate) fn parse_pem(chain: &str, key: &str) -> Result<Arc<CertifiedKey>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the issued chain does not parse: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("the key does not parse: {e}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(chain, key, &provider)
        .map(Arc::new)
        .map_err(err)
}

/// Writes `dir/name` whole (a temporary file renamed over it), owner-only when `secret`.
fn save(dir: &Path, name: &str, bytes: &[u8], secret: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot restrict {}: {e}", tmp.display()))?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| format!("cannot save {name}: {e}"))
}
