//! The HTTP client deliveries use: hyper's client over hyper-rustls (HTTPS with the system's
//! roots, through the same aws-lc-rs provider as the rest of the server; plain HTTP too), no
//! redirects followed (a signed body is not sent on elsewhere), each request bounded in time
//! and the answer's body read only up to [`ANSWER_BYTES`] (for the delivery log).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// At most this much of an endpoint's answer is read.
pub const ANSWER_BYTES: usize = 256;

#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

/// What an endpoint answered.
pub struct Answer {
    pub status: u16,
    /// The start of its body (lossy UTF-8).
    pub body: String,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> HttpClient {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let https = match builder.with_provider_and_native_roots(provider) {
            Ok(b) => b,
            Err(e) => {
                // No usable system roots: HTTPS endpoints then fail with the reason, each time.
                tracing::warn!(error = %e, "no system root certificates: webhook deliveries over https will fail");
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                        rustls::crypto::aws_lc_rs::default_provider(),
                    ))
                    .with_safe_default_protocol_versions()
                    .expect("the provider supports the default versions")
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                )
            }
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout.min(Duration::from_secs(5))));
        http.enforce_http(false);
        let connector = https.https_or_http().enable_http1().wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpClient { client, timeout }
    }

    /// POSTs `body` to `url` with `headers`; the whole exchange within the timeout.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, String> {
        let mut req = hyper::Request::post(url).header(
            "User-Agent",
            concat!("gavel-webhooks/", env!("CARGO_PKG_VERSION")),
        );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        let exchange = async {
            let res = self.client.request(req).await.map_err(describe)?;
            let status = res.status().as_u16();
            let body = match Limited::new(res.into_body(), ANSWER_BYTES).collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                // Longer than we read: what it said does not matter.
                Err(_) => String::new(),
            };
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err("timed out".into()),
        }
    }
}

/// A client error with its causes (hyper's own message says only "client error").
fn describe(e: hyper_util::client::legacy::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
