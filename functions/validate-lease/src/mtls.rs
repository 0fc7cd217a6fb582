//! mTLS for the host's hot path: only certificates from the configured CA
//! whose identity (SAN) is exactly one of the allowlisted callers' get
//! through, over gRPC and over JSON alike ([`authenticated`]).

use std::{fmt, sync::Arc};

use axum::{
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::Response,
};
use tonic::{
    Status,
    service::{Routes, interceptor::InterceptedService},
    transport::{
        CertificateDer, ServerTlsConfig,
        server::{TcpConnectInfo, TlsConnectInfo},
    },
};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::{HotPath, Validator};

/// The six internal callers of SPEC §1, each identified by the DNS name of
/// its own (bare) name.
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

/// The hot path for the mTLS listener: `numbering.v1.NumberingService` and
/// the JSON routes (`POST /v1/validate-lease`, `POST /v1/lookup`), both
/// behind the same caller allowlist.
pub fn authenticated(validator: Validator, allowlist: CallerAllowlist) -> Routes {
    let json = crate::http::router(validator.clone()).layer(axum::middleware::from_fn_with_state(
        allowlist.clone(),
        require_caller,
    ));
    Routes::from(json).add_service(InterceptedService::new(
        HotPath::new(validator).into_server(),
        allowlist,
    ))
}

/// What a client certificate's SAN must be, exactly, for a caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerIdentity {
    /// A SPIFFE ID (`spiffe://trust-domain/path`), equal byte for byte to a
    /// URI SAN.
    Spiffe(String),
    /// A DNS name, equal to a DNS SAN (ignoring ASCII case, as DNS does).
    Dns(String),
}

impl CallerIdentity {
    /// A SPIFFE ID (anything starting `spiffe://`) or a DNS name; no
    /// wildcard, no other URI.
    pub fn parse(s: &str) -> Result<Self, AllowlistError> {
        let bad = |why: &str| AllowlistError(format!("{s:?}: {why}"));
        if let Some(rest) = s.strip_prefix("spiffe://") {
            let (domain, path) = rest
                .split_once('/')
                .ok_or_else(|| bad("a SPIFFE ID needs a path after its trust domain"))?;
            let domain_ok = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
            if !domain_ok {
                return Err(bad(
                    "the trust domain must be lower-case letters, digits, '-', '.', '_'",
                ));
            }
            let path_ok = path.split('/').all(|seg| {
                !seg.is_empty()
                    && seg != "."
                    && seg != ".."
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
            });
            if !path_ok {
                return Err(bad(
                    "SPIFFE path segments must be non-empty letters, digits, '-', '.', '_'",
                ));
            }
            return Ok(Self::Spiffe(s.to_owned()));
        }
        if s.contains(':') {
            return Err(bad("an identity is a spiffe:// ID or a DNS name"));
        }
        let label_ok = |l: &str| {
            (1..=63).contains(&l.len())
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if s.len() > 253 || !s.split('.').all(label_ok) {
            return Err(bad(
                "not a DNS name (labels of letters, digits and '-'; no wildcard)",
            ));
        }
        Ok(Self::Dns(s.to_ascii_lowercase()))
    }

    fn matches(&self, name: &GeneralName<'_>) -> bool {
        match (self, name) {
            (Self::Dns(want), GeneralName::DNSName(got)) => want.eq_ignore_ascii_case(got),
            (Self::Spiffe(want), GeneralName::URI(got)) => want == got,
            _ => false,
        }
    }
}

impl fmt::Display for CallerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spiffe(s) | Self::Dns(s) => f.write_str(s),
        }
    }
}

/// `NUMBERING_GRPC_ALLOWED_CALLERS` is not a list of callers.
#[derive(Debug, thiserror::Error)]
#[error("caller allowlist: {0}")]
pub struct AllowlistError(String);

/// Why a call was refused before it reached the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The connection carries no client certificate (not the mTLS listener).
    NoCertificate,
    /// The certificate's SANs name none of the allowlisted identities.
    NotAllowlisted,
}

/// The callers that may use the hot path, each by its exact identity: a
/// certificate is accepted when one of its SANs *is* an allowlisted
/// identity (never a prefix or suffix of one).
#[derive(Clone, Debug)]
pub struct CallerAllowlist {
    /// (caller name, for metrics and logs; its identity)
    entries: Arc<Vec<(String, CallerIdentity)>>,
}

impl Default for CallerAllowlist {
    /// The six callers of SPEC §1, by their bare DNS names.
    fn default() -> Self {
        Self::parse(&DEFAULT_CALLERS.join(",")).expect("the default callers are DNS names")
    }
}

impl CallerAllowlist {
    /// Comma-separated entries, each `caller=identity` or a bare `identity`
    /// (then the caller is named by it); an identity is a SPIFFE ID or a
    /// DNS name ([`CallerIdentity::parse`]). A caller may have several
    /// entries.
    pub fn parse(spec: &str) -> Result<Self, AllowlistError> {
        let mut entries = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (caller, identity) = match entry.split_once('=') {
                Some((c, i)) => (c.trim(), i.trim()),
                None => (entry, entry),
            };
            if caller.is_empty() {
                return Err(AllowlistError(format!(
                    "{entry:?}: the caller name is empty"
                )));
            }
            entries.push((caller.to_owned(), CallerIdentity::parse(identity)?));
        }
        if entries.is_empty() {
            return Err(AllowlistError("no caller is allowed".to_owned()));
        }
        Ok(Self {
            entries: Arc::new(entries),
        })
    }

    /// How many identities are allowlisted.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The allowlisted caller a DER certificate identifies, if any.
    pub fn caller_of(&self, der: &[u8]) -> Option<&str> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        san.value.general_names.iter().find_map(|name| {
            self.entries
                .iter()
                .find(|(_, identity)| identity.matches(name))
                .map(|(caller, _)| caller.as_str())
        })
    }

    /// The caller presenting `certs` (the peer's chain, leaf first), counted
    /// in `numbering_grpc_calls_total`, or why it is refused.
    pub fn authorize(&self, certs: Option<&[CertificateDer<'_>]>) -> Result<String, Refusal> {
        let leaf = certs
            .and_then(|c| c.first())
            .ok_or(Refusal::NoCertificate)?;
        let caller = self
            .caller_of(leaf.as_ref())
            .ok_or(Refusal::NotAllowlisted)?
            .to_owned();
        metrics::counter!("numbering_grpc_calls_total", "caller" => caller.clone()).increment(1);
        Ok(caller)
    }
}

impl tonic::service::Interceptor for CallerAllowlist {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let certs = request.peer_certs();
        match self.authorize(certs.as_deref().map(Vec::as_slice)) {
            Ok(_) => Ok(request),
            Err(Refusal::NoCertificate) => {
                Err(Status::unauthenticated("a client certificate is required"))
            }
            Err(Refusal::NotAllowlisted) => Err(Status::permission_denied(
                "the client certificate is not an allowlisted caller",
            )),
        }
    }
}

/// The JSON routes' counterpart of the interceptor: 401 / 403 problem+json.
async fn require_caller(
    State(allowlist): State<CallerAllowlist>,
    request: Request,
    next: Next,
) -> Response {
    let certs = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs);
    match allowlist.authorize(certs.as_deref().map(Vec::as_slice)) {
        Ok(_) => next.run(request).await,
        Err(Refusal::NoCertificate) => crate::http::problem(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "a client certificate is required",
        ),
        Err(Refusal::NotAllowlisted) => crate::http::problem(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "the client certificate is not an allowlisted caller",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_spiffe_ids_or_dns_names_and_nothing_looser() {
        assert_eq!(
            CallerIdentity::parse("spiffe://ghasi.af/ns/sms/sms-orchestrator").unwrap(),
            CallerIdentity::Spiffe("spiffe://ghasi.af/ns/sms/sms-orchestrator".into())
        );
        assert_eq!(
            CallerIdentity::parse("Routing-Engine.svc.kbl").unwrap(),
            CallerIdentity::Dns("routing-engine.svc.kbl".into())
        );
        for bad in [
            "*.ghasi.af",
            "spiffe://ghasi.af",
            "spiffe://ghasi.af/",
            "spiffe://ghasi.af/ns//x",
            "spiffe://ghasi.af/ns/../x",
            "https://ghasi.af/x",
            "sms orchestrator",
            "-sms",
            "",
        ] {
            assert!(CallerIdentity::parse(bad).is_err(), "{bad:?} is refused");
        }
    }

    #[test]
    fn an_allowlist_names_each_caller_by_one_or_more_identities() {
        let list = CallerAllowlist::parse(
            "sms-orchestrator=spiffe://ghasi.af/ns/sms/sms-orchestrator, \
             sms-orchestrator=sms-orchestrator.kbl.svc, routing-engine",
        )
        .unwrap();
        assert_eq!(list.len(), 3);
        assert!(CallerAllowlist::parse(" , ").is_err());
        assert!(CallerAllowlist::parse("=routing-engine").is_err());
        assert_eq!(CallerAllowlist::default().len(), 6);
    }

    #[test]
    fn a_look_alike_name_is_not_the_caller_it_starts_or_ends_with() {
        let dns = CallerIdentity::parse("sms-orchestrator").unwrap();
        assert!(dns.matches(&GeneralName::DNSName("SMS-Orchestrator")));
        for look_alike in [
            "sms-orchestrator.attacker.example",
            "sms-orchestrator-evil",
            "evil-sms-orchestrator",
        ] {
            assert!(
                !dns.matches(&GeneralName::DNSName(look_alike)),
                "{look_alike}"
            );
        }
        assert!(!dns.matches(&GeneralName::URI("spiffe://x/sms-orchestrator")));
        let spiffe = CallerIdentity::parse("spiffe://ghasi.af/ns/sms/sms-orchestrator").unwrap();
        assert!(spiffe.matches(&GeneralName::URI(
            "spiffe://ghasi.af/ns/sms/sms-orchestrator"
        )));
        for look_alike in [
            "spiffe://attacker.example/ns/sms/sms-orchestrator",
            "spiffe://ghasi.af/ns/sms/sms-orchestrator/x",
            "spiffe://ghasi.af/ns/sms/sms-orchestrator-evil",
        ] {
            assert!(
                !spiffe.matches(&GeneralName::URI(look_alike)),
                "{look_alike}"
            );
        }
    }
}
