//! Bearer-JWT authentication: signature, `exp`, `nbf`, `iss`, `aud`.
//!
//! Keys: an HS256 secret (development) and/or a JWKS (RS256 / ES256 /
//! EdDSA public keys, chosen by `kid`) given inline, in a file, or at the
//! identity provider's URL. A token's `alg` must match the key it is
//! checked with, so an HS256 token is never checked against a public key,
//! and `alg: none` is refused (it is not an algorithm we accept).
//!
//! A JWKS URL is fetched in the background on a schedule and again when a
//! token names a `kid` we don't know (key rotation), at most once per
//! [`REFETCH_AT_MOST_EVERY`], so a flood of forged `kid`s can't turn into a
//! flood of fetches. While the URL is unreachable the keys last fetched stay
//! in use; before the first successful fetch no JWKS token is accepted.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

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
use numbering_shared::{AccountId, TenantId};
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
    /// The `account_id` claim: the one account of its tenant the caller
    /// acts for (reservations are made for it and may name no other);
    /// `None`: the caller acts for the whole tenant and may name any of
    /// its accounts, or none.
    pub account_id: Option<AccountId>,
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
    #[serde(default)]
    account_id: Option<String>,
}

struct PublicKey {
    alg: Algorithm,
    key: DecodingKey,
}

/// A token naming an unknown `kid` refetches the JWKS URL at most this often.
pub const REFETCH_AT_MOST_EVERY: Duration = Duration::from_secs(30);

/// How old fetched JWKS keys may get before they are fetched again.
pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// Verifies bearer tokens against the configured keys, issuer and audience.
pub struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: HashMap<String, PublicKey>,
    remote: Option<RemoteJwks>,
    issuer: String,
    audience: String,
}

/// The identity provider's JWKS, fetched from its URL.
struct RemoteJwks {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, Arc<PublicKey>>>,
    /// Keys older than this are refetched before a token is checked.
    max_age: Duration,
    /// When the keys were last fetched successfully.
    fetched_at: Mutex<Option<Instant>>,
    /// When the last fetch started (successful or not).
    last_attempt: Mutex<Option<Instant>>,
    /// One fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("hs256", &self.hs256.is_some())
            .field("jwks", &self.jwks.keys().collect::<Vec<_>>())
            .field("jwks_url", &self.remote.as_ref().map(|r| &r.url))
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
            remote: None,
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
        self.jwks.extend(parse_jwks(jwks_json)?);
        Ok(self)
    }

    /// Accepts tokens signed by the keys published at `url` (the identity
    /// provider's JWKS endpoint), fetched by [`Verifier::refresh`] — on a
    /// schedule with [`Verifier::spawn_refresh`], before a token is checked
    /// when the keys are older than `max_age`, and when a token names an
    /// unknown `kid` (see [`Verifier::authenticate`]).
    pub fn with_jwks_url(mut self, url: &str, max_age: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("JWKS client: {e}"))?;
        self.remote = Some(RemoteJwks {
            url: url.to_owned(),
            client,
            keys: RwLock::new(HashMap::new()),
            max_age,
            fetched_at: Mutex::new(None),
            last_attempt: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        });
        Ok(self)
    }

    /// Fetches the JWKS URL now and replaces the keys fetched before.
    /// Returns how many keys it holds. On failure the previous keys stay.
    pub async fn refresh(&self) -> Result<usize, String> {
        let Some(remote) = &self.remote else {
            return Ok(0);
        };
        let _one_at_a_time = remote.fetching.lock().await;
        let result = async {
            let response = remote
                .client
                .get(&remote.url)
                .send()
                .await
                .map_err(|e| format!("fetching {}: {e}", remote.url))?;
            if !response.status().is_success() {
                return Err(format!(
                    "fetching {}: HTTP {}",
                    remote.url,
                    response.status()
                ));
            }
            let body = response
                .text()
                .await
                .map_err(|e| format!("reading {}: {e}", remote.url))?;
            parse_jwks(&body).map_err(|e| format!("{}: {e}", remote.url))
        }
        .await;
        match result {
            Ok(keys) => {
                let n = keys.len();
                let keys = keys.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
                *remote.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
                *remote.fetched_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                metrics::counter!("numbering_jwks_fetch_total", "outcome" => "ok").increment(1);
                tracing::debug!(url = %remote.url, keys = n, "fetched the JWKS");
                Ok(n)
            }
            Err(e) => {
                metrics::counter!("numbering_jwks_fetch_total", "outcome" => "error").increment(1);
                tracing::warn!(error = %e, "JWKS fetch failed; the keys fetched before stay in use");
                Err(e)
            }
        }
    }

    /// Refreshes the JWKS URL now and then every `every`, for as long as the
    /// verifier is alive. Without a URL, does nothing.
    pub fn spawn_refresh(self: &Arc<Self>, every: Duration) {
        if self.remote.is_none() {
            return;
        }
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(verifier) = weak.upgrade() else {
                    return;
                };
                let _ = verifier.refresh().await;
                drop(verifier);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// [`Verifier::verify`] with the JWKS URL's keys kept current: fetched
    /// first when they are older than their maximum age, and once more when
    /// the token names a `kid` they don't hold (a rotation) — each at most
    /// once per [`REFETCH_AT_MOST_EVERY`].
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        if self.keys_stale() && self.claim_fetch_slot() {
            let _ = self.refresh().await;
        }
        match self.verify(token) {
            Err(e) if self.kid_unknown(token) && self.claim_fetch_slot() => {
                if self.refresh().await.is_ok() {
                    self.verify(token)
                } else {
                    Err(e)
                }
            }
            outcome => outcome,
        }
    }

    fn keys_stale(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| {
            r.fetched_at
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|t| t.elapsed() >= r.max_age)
        })
    }

    fn kid_unknown(&self, token: &str) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        match decode_header(token).ok().and_then(|h| h.kid) {
            Some(kid) => {
                !self.jwks.contains_key(&kid)
                    && !remote
                        .keys
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains_key(&kid)
            }
            None => false,
        }
    }

    /// True (and the slot taken) when no fetch started in the last
    /// [`REFETCH_AT_MOST_EVERY`], so concurrent requests don't all refetch.
    fn claim_fetch_slot(&self) -> bool {
        let Some(remote) = &self.remote else {
            return false;
        };
        let mut last = remote
            .last_attempt
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() >= REFETCH_AT_MOST_EVERY) {
            *last = Some(Instant::now());
            true
        } else {
            false
        }
    }

    /// Verifies `token` and returns its principal.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        let header = decode_header(token).map_err(|_| {
            ApiError::unauthorized("the bearer token is malformed or its algorithm is not accepted")
        })?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref().map(KeyRef::Configured),
            alg @ (Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA) => {
                self.public_key(header.kid.as_deref(), alg)
            }
            _ => None,
        }
        .ok_or_else(|| {
            ApiError::unauthorized("the bearer token is not signed with an accepted key")
        })?;
        let key = &*key;
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
        let account_id = c
            .account_id
            .as_deref()
            .map(AccountId::parse)
            .transpose()
            .map_err(|_| ApiError::unauthorized("the bearer token's account_id is not valid"))?;
        Ok(Principal {
            subject: c.sub,
            tenant_id,
            roles: c.roles,
            account_id,
        })
    }
}

impl Verifier {
    /// The public key for `kid` (or the only one, for a token without a
    /// `kid`) whose algorithm is `alg`: configured keys first, then fetched.
    fn public_key(&self, kid: Option<&str>, alg: Algorithm) -> Option<KeyRef<'_>> {
        let configured = match kid {
            Some(kid) => self.jwks.get(kid),
            None if self.jwks.len() == 1 && self.remote.is_none() => self.jwks.values().next(),
            None => None,
        };
        if let Some(k) = configured {
            return (k.alg == alg).then_some(KeyRef::Configured(&k.key));
        }
        let remote = self.remote.as_ref()?;
        let keys = remote.keys.read().unwrap_or_else(|p| p.into_inner());
        let fetched = match kid {
            Some(kid) => keys.get(kid),
            None if keys.len() == 1 && self.jwks.is_empty() => keys.values().next(),
            None => None,
        }?;
        (fetched.alg == alg).then(|| KeyRef::Fetched(fetched.clone()))
    }
}

/// A key held in the verifier, or a fetched one (shared with later fetches).
enum KeyRef<'a> {
    Configured(&'a DecodingKey),
    Fetched(Arc<PublicKey>),
}

impl std::ops::Deref for KeyRef<'_> {
    type Target = DecodingKey;
    fn deref(&self) -> &DecodingKey {
        match self {
            KeyRef::Configured(k) => k,
            KeyRef::Fetched(k) => &k.key,
        }
    }
}

/// The keys of a JWKS document, by `kid`.
fn parse_jwks(jwks_json: &str) -> Result<HashMap<String, PublicKey>, String> {
    let set: JwkSet =
        serde_json::from_str(jwks_json).map_err(|e| format!("JWKS is not valid: {e}"))?;
    let mut keys = HashMap::new();
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
        keys.insert(kid, PublicKey { alg, key });
    }
    Ok(keys)
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

async fn authenticate(
    state: &ApiState,
    token: Result<String, ApiError>,
) -> Result<Principal, ApiError> {
    state.edge.verifier.authenticate(&token?).await
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
    // the token is owned before the await: a `&Request` is not `Send`
    let token = bearer(&req).map(str::to_owned);
    let p = match authenticate(&state, token).await {
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
    // the token is owned before the await: a `&Request` is not `Send`
    let token = bearer(&req).map(str::to_owned);
    let p = match authenticate(&state, token).await {
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
