//! mTLS for the gRPC listener: only certificates from the configured CA
//! whose identity (SAN) is one of the allowlisted callers get through.

use std::sync::Arc;

use tonic::{Request, Status, service::Interceptor, transport::ServerTlsConfig};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The six internal callers of SPEC §1.
pub const DEFAULT_CALLERS: [&str; 6] = [
    "sms-orchestrator",
    "routing-engine",
    "number-intelligence-service",
    "sender-id-registry-service",
    "compliance-engine",
    "billing-service",
];

/// Server TLS that requires a client certificate signed by `client_ca_pem`.
pub fn server_tls(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> ServerTlsConfig {
    ServerTlsConfig::new()
        .identity(tonic::transport::Identity::from_pem(cert_pem, key_pem))
        .client_ca_root(tonic::transport::Certificate::from_pem(client_ca_pem))
}

/// Refuses calls whose client certificate names none of the allowed callers.
/// A SAN matches caller `c` when it is the DNS name `c` or `c.<anything>`, or
/// a URI ending in `/c` (SPIFFE style).
#[derive(Clone)]
pub struct CallerAllowlist {
    callers: Arc<Vec<String>>,
}

impl CallerAllowlist {
    pub fn new(callers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            callers: Arc::new(callers.into_iter().map(Into::into).collect()),
        }
    }

    /// The allowlisted caller a DER certificate identifies, if any.
    pub fn caller_of(&self, der: &[u8]) -> Option<String> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        for name in &san.value.general_names {
            let matched = self.callers.iter().find(|c| match name {
                GeneralName::DNSName(d) => *d == c.as_str() || d.starts_with(&format!("{c}.")),
                GeneralName::URI(u) => u.ends_with(&format!("/{c}")),
                _ => false,
            });
            if let Some(c) = matched {
                return Some(c.clone());
            }
        }
        None
    }
}

impl Interceptor for CallerAllowlist {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let certs = request
            .peer_certs()
            .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
        let caller = certs
            .first()
            .and_then(|c| self.caller_of(c.as_ref()))
            .ok_or_else(|| {
                Status::permission_denied("the client certificate is not an allowlisted caller")
            })?;
        metrics::counter!("numbering_grpc_calls_total", "caller" => caller).increment(1);
        Ok(request)
    }
}
