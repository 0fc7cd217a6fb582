//! The REST edge's settings, shared by the portal and admin Lambdas and the
//! host: token verification (`NUMBERING_JWT_*`), the body limit and the
//! access log's sampling. Parsed once; [`EdgeConfig::edge`] builds the
//! [`Edge`] from them.

use std::{path::PathBuf, time::Duration};

use numbering_clients::config::{ConfigError, duration, number};

use axum::Router;

use crate::{
    AccessLog, ApiState, Edge, Verifier, auth::DEFAULT_JWKS_MAX_AGE, openapi, with_fallbacks,
};

#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub jwt: JwtConfig,
    /// `NUMBERING_HTTP_BODY_LIMIT`: largest REST request body in bytes (default 65536).
    pub http_body_limit: usize,
    /// `NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE`: the access log keeps one in N
    /// hot-path requests (default 100; 0: none).
    pub access_log: AccessLog,
}

/// `NUMBERING_JWT_HS256_SECRET`, `NUMBERING_JWT_ISSUER` (default
/// `numbering-dev`), `NUMBERING_JWT_AUDIENCE` (default `numbering`) and the
/// JWKS sources.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub hs256_secret: Option<String>,
    /// `NUMBERING_JWT_JWKS_FILE`: a JWKS (RS256 / ES256 / EdDSA public keys) to accept tokens from.
    pub jwks_file: Option<PathBuf>,
    /// `NUMBERING_JWT_JWKS`: the same, inline.
    pub jwks: Option<String>,
    /// `NUMBERING_JWT_JWKS_URL`: the identity provider's JWKS endpoint,
    /// refetched every `NUMBERING_JWT_JWKS_MAX_AGE` (default 5m) and on an
    /// unknown `kid`.
    pub jwks_url: Option<String>,
    pub jwks_max_age: Duration,
    pub issuer: String,
    pub audience: String,
}

impl JwtConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            hs256_secret: get("NUMBERING_JWT_HS256_SECRET"),
            jwks_file: get("NUMBERING_JWT_JWKS_FILE").map(PathBuf::from),
            jwks: get("NUMBERING_JWT_JWKS"),
            jwks_url: get("NUMBERING_JWT_JWKS_URL"),
            jwks_max_age: duration(get, "NUMBERING_JWT_JWKS_MAX_AGE", DEFAULT_JWKS_MAX_AGE)?,
            issuer: get("NUMBERING_JWT_ISSUER").unwrap_or_else(|| "numbering-dev".into()),
            audience: get("NUMBERING_JWT_AUDIENCE").unwrap_or_else(|| "numbering".into()),
        })
    }

    /// The verifier of these settings, with `hs256_secret` as its HS256
    /// key (the host passes its development secret; a Lambda, the
    /// configured one). A JWKS URL is fetched on first use.
    pub fn verifier(&self, hs256_secret: Option<&str>) -> Result<Verifier, ConfigError> {
        let invalid = |k: &'static str| move |e: String| ConfigError(format!("{k}: {e}"));
        let mut verifier = Verifier::new(&self.issuer, &self.audience);
        if let Some(secret) = hs256_secret {
            verifier = verifier.with_hs256(secret.as_bytes());
        }
        if let Some(path) = &self.jwks_file {
            let json = std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("NUMBERING_JWT_JWKS_FILE={}: {e}", path.display()))
            })?;
            verifier = verifier
                .with_jwks(&json)
                .map_err(invalid("NUMBERING_JWT_JWKS_FILE"))?;
        }
        if let Some(json) = &self.jwks {
            verifier = verifier
                .with_jwks(json)
                .map_err(invalid("NUMBERING_JWT_JWKS"))?;
        }
        if let Some(url) = &self.jwks_url {
            verifier = verifier
                .with_jwks_url(url, self.jwks_max_age)
                .map_err(invalid("NUMBERING_JWT_JWKS_URL"))?;
        }
        Ok(verifier)
    }
}

impl EdgeConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            jwt: JwtConfig::from_lookup(get)?,
            http_body_limit: number(get, "NUMBERING_HTTP_BODY_LIMIT", 64 * 1024)?,
            access_log: AccessLog::from_lookup(get).map_err(ConfigError)?,
        })
    }

    /// The edge: a verifier with `hs256_secret` (see
    /// [`JwtConfig::verifier`]), the body limit and the access log; no rate
    /// limit, sender-id registry or exports (the APIs' own configurations
    /// add those).
    pub fn edge(&self, hs256_secret: Option<&str>) -> Result<Edge, ConfigError> {
        let mut edge = Edge::new(self.jwt.verifier(hs256_secret)?);
        edge.body_limit = self.http_body_limit;
        edge.access_log = self.access_log.clone();
        Ok(edge)
    }
}

/// A REST API deployed on its own (its Lambda): `router(state)` with the
/// problem+json fallbacks and its OpenAPI document, behind the access log.
pub fn deployable(
    router: fn(ApiState) -> Router,
    state: ApiState,
    title: &'static str,
    operations: Vec<openapi::Op>,
) -> Router {
    let access_log = state.edge.access_log.clone();
    let app = router(state).merge(openapi::docs_router(title, operations));
    access_log
        .wrap(with_fallbacks(app))
        .layer(numbering_clients::traces::TraceLayer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::from_pairs;

    fn config(pairs: &[(&str, &str)]) -> Result<EdgeConfig, ConfigError> {
        EdgeConfig::from_lookup(&from_pairs(pairs))
    }

    #[test]
    fn jwt_issuer_and_audience_default_to_the_development_ones() {
        let c = config(&[]).unwrap();
        assert_eq!(
            (c.jwt.issuer.as_str(), c.jwt.audience.as_str()),
            ("numbering-dev", "numbering")
        );
        let c = config(&[
            ("NUMBERING_JWT_ISSUER", "https://id"),
            ("NUMBERING_JWT_AUDIENCE", "n"),
        ])
        .unwrap();
        assert_eq!(
            (c.jwt.issuer.as_str(), c.jwt.audience.as_str()),
            ("https://id", "n")
        );
    }

    #[test]
    fn jwt_hs256_secret_and_jwks_sources_are_read() {
        let c = config(&[
            ("NUMBERING_JWT_HS256_SECRET", "s"),
            ("NUMBERING_JWT_JWKS_FILE", "/k.json"),
            ("NUMBERING_JWT_JWKS", "{\"keys\":[]}"),
            ("NUMBERING_JWT_JWKS_URL", "https://id/jwks"),
        ])
        .unwrap();
        assert_eq!(c.jwt.hs256_secret.as_deref(), Some("s"));
        assert_eq!(c.jwt.jwks_file, Some(PathBuf::from("/k.json")));
        assert_eq!(c.jwt.jwks.as_deref(), Some("{\"keys\":[]}"));
        assert_eq!(c.jwt.jwks_url.as_deref(), Some("https://id/jwks"));
        let err = config(&[("NUMBERING_JWT_JWKS", "not json")])
            .unwrap()
            .jwt
            .verifier(None);
        assert!(err.unwrap_err().0.contains("NUMBERING_JWT_JWKS"));
    }

    #[test]
    fn jwt_jwks_max_age_defaults_to_five_minutes() {
        assert_eq!(
            config(&[]).unwrap().jwt.jwks_max_age,
            Duration::from_secs(300)
        );
        let c = config(&[("NUMBERING_JWT_JWKS_MAX_AGE", "1h")]).unwrap();
        assert_eq!(c.jwt.jwks_max_age, Duration::from_secs(3600));
        let err = config(&[("NUMBERING_JWT_JWKS_MAX_AGE", "often")]).unwrap_err();
        assert!(err.0.contains("NUMBERING_JWT_JWKS_MAX_AGE"), "{err}");
    }

    #[test]
    fn http_body_limit_defaults_to_64_kib() {
        assert_eq!(config(&[]).unwrap().http_body_limit, 65536);
        let c = config(&[("NUMBERING_HTTP_BODY_LIMIT", "1024")]).unwrap();
        assert_eq!(c.edge(None).unwrap().body_limit, 1024);
        assert!(config(&[("NUMBERING_HTTP_BODY_LIMIT", "big")]).is_err());
    }

    #[test]
    fn access_log_validate_sample_must_be_a_whole_number() {
        assert!(config(&[("NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE", "10")]).is_ok());
        let err = config(&[("NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE", "half")]).unwrap_err();
        assert!(
            err.0.contains("NUMBERING_ACCESS_LOG_VALIDATE_SAMPLE"),
            "{err}"
        );
    }
}
