//! Bearer-JWT authentication: signature, `exp`, `nbf`, `iss`, `aud`.
//!
//! Keys: an HS256 secret (development) and/or a JWKS (RS256 / ES256 /
//! EdDSA public keys, chosen by `kid`). A token's `alg` must match the key
//! it is checked with, so an HS256 token is never checked against a public
//! key, and `alg: none` is refused (it is not an algorithm we accept).

use std::collections::HashMap;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm},
};
use numbering_shared::TenantId;
use serde::Deserialize;

use crate::{ApiError, ApiState};

pub const TENANT_ROLE: &str = "tenant_pool_admin";
pub const ADMIN_ROLE: &str = "platform_admin";

/// Who is calling, from a verified token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    pub tenant_id: Option<TenantId>,
    pub roles: Vec<String>,
}

impl Principal {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

struct PublicKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: HashMap<String, PublicKey>,
    issuer: String,
    audience: String,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.hs256.is_some())
            .field("jwks", &self.jwks.keys().collect::<Vec<_>>())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl Verifier {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            hs256: None,
            jwks: HashMap::new(),
            issuer: issuer.into(),
            audience: audience.into(),
        }
    }

    /// Accepts HS256 tokens signed with `secret` (development).
    pub fn with_hs256(mut self, secret: &[u8]) -> Self {
        self.hs256 = Some(DecodingKey::from_secret(secret));
        self
    }

    /// Accepts tokens signed by the keys of a JWKS document (JSON). Each key
    /// needs a `kid`; its algorithm comes from `alg` or, without one, from
    /// the key type (RSA: RS256, EC P-256: ES256, OKP Ed25519: EdDSA).
    pub fn with_jwks(mut self, jwks_json: &str) -> Result<Self, String> {
        let set: JwkSet =
            serde_json::from_str(jwks_json).map_err(|e| format!("JWKS is not valid: {e}"))?;
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or("every JWKS key needs a kid")?;
            let alg = match (jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
                (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
                (Some(KeyAlgorithm::EdDSA), _) => Algorithm::EdDSA,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(_)) => Algorithm::ES256,
                (None, AlgorithmParameters::OctetKeyPair(_)) => Algorithm::EdDSA,
                (other, _) => {
                    return Err(format!("JWKS key {kid}: unsupported algorithm {other:?}"));
                }
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("JWKS key {kid}: {e}"))?;
            self.jwks.insert(kid, PublicKey { alg, key });
        }
        Ok(self)
    }

    /// From `NUMBERING_JWT_ISSUER` (default `numbering-dev`),
    /// `NUMBERING_JWT_AUDIENCE` (default `numbering`),
    /// `NUMBERING_JWT_HS256_SECRET`, `NUMBERING_JWT_JWKS_FILE` (a JWKS JSON
    /// file) and `NUMBERING_JWT_JWKS` (the JWKS JSON itself).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut v = Self::new(
            get("NUMBERING_JWT_ISSUER").unwrap_or_else(|| "numbering-dev".into()),
            get("NUMBERING_JWT_AUDIENCE").unwrap_or_else(|| "numbering".into()),
        );
        if let Some(secret) = get("NUMBERING_JWT_HS256_SECRET") {
            v = v.with_hs256(secret.as_bytes());
        }
        if let Some(path) = get("NUMBERING_JWT_JWKS_FILE") {
            let json = std::fs::read_to_string(&path)
                .map_err(|e| format!("NUMBERING_JWT_JWKS_FILE={path}: {e}"))?;
            v = v.with_jwks(&json)?;
        }
        if let Some(json) = get("NUMBERING_JWT_JWKS") {
            v = v.with_jwks(&json)?;
        }
        Ok(v)
    }

    /// Verifies `token` and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let header = decode_header(token).map_err(|_| {
            ApiError::unauthorized("the bearer token is malformed or its algorithm is not accepted")
        })?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            alg @ (Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) => {
                let by_kid = match &header.kid {
                    Some(kid) => self.jwks.get(kid),
                    None if self.jwks.len() == 1 => self.jwks.values().next(),
                    None => None,
                };
                by_kid.filter(|k| k.alg == alg).map(|k| &k.key)
            }
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::unauthorized("the bearer token is not signed with an accepted key")
        })?;
        let mut v = Validation::new(header.alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.validate_nbf = true;
        v.leeway = 30;
        let data = decode::<Claims>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "the bearer token has expired",
                ErrorKind::ImmatureSignature => "the bearer token is not valid yet",
                ErrorKind::InvalidAudience => "the bearer token is for another audience",
                ErrorKind::InvalidIssuer => "the bearer token is from another issuer",
                ErrorKind::InvalidSignature => "the bearer token signature is not valid",
                _ => "the bearer token is not valid",
            };
            ApiError::unauthorized(why)
        })?;
        let c = data.claims;
        let tenant_id = c
            .tenant_id
            .as_deref()
            .map(TenantId::parse)
            .transpose()
            .map_err(|_| ApiError::unauthorized("the bearer token's tenant_id is not valid"))?;
        Ok(Principal {
            subject: c.sub,
            tenant_id,
            roles: c.roles,
        })
    }
}

fn bearer(req: &Request) -> Result<&str, ApiError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid"))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
        _ => Err(ApiError::unauthorized(
            "the Authorization header must be `Bearer <token>`",
        )),
    }
}

fn with_challenge(e: ApiError) -> Response {
    let unauthorized = e.status == axum::http::StatusCode::UNAUTHORIZED;
    let mut r = e.into_response();
    if unauthorized {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    r
}

/// Middleware: a tenant-pool admin with a tenant; puts the [`Principal`]
/// in the request extensions.
pub async fn require_tenant(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let p = match bearer(&req).and_then(|t| state.edge.verifier.verify(t)) {
        Ok(p) => p,
        Err(e) => return with_challenge(e),
    };
    if !p.has_role(TENANT_ROLE) || p.tenant_id.is_none() {
        return with_challenge(ApiError::forbidden(
            "this route needs the tenant_pool_admin role and a tenant_id",
        ));
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}

/// Middleware: a platform admin.
pub async fn require_admin(
    State(state): State<ApiState>,
    mut req: Request,
    next: Next,
) -> Response {
    let p = match bearer(&req).and_then(|t| state.edge.verifier.verify(t)) {
        Ok(p) => p,
        Err(e) => return with_challenge(e),
    };
    if !p.has_role(ADMIN_ROLE) {
        return with_challenge(ApiError::forbidden(
            "this route needs the platform_admin role",
        ));
    }
    req.extensions_mut().insert(p);
    next.run(req).await
}
