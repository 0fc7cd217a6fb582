//! Development tokens (`numbering token`), signed with the HS256 secret.

use anyhow::{Context, Result, bail};
use chrono::Utc;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde::Serialize;

use numbering_http_edge::config::JwtConfig;

pub const ROLES: [&str; 2] = ["tenant_pool_admin", "platform_admin"];

#[derive(Debug, Serialize)]
struct Claims<'a> {
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    roles: Vec<&'a str>,
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Mints a token for `tenant` (None for a platform admin) with `role`,
/// valid for `ttl`.
pub fn mint(
    jwt: &JwtConfig,
    subject: &str,
    tenant: Option<&str>,
    role: &str,
    ttl: chrono::Duration,
) -> Result<String> {
    mint_for_account(jwt, subject, tenant, None, role, ttl)
}

/// [`mint`] with an `account_id` claim: the one account of `tenant` the
/// token acts for.
pub fn mint_for_account(
    jwt: &JwtConfig,
    subject: &str,
    tenant: Option<&str>,
    account: Option<&str>,
    role: &str,
    ttl: chrono::Duration,
) -> Result<String> {
    if let Some(a) = account {
        if tenant.is_none() {
            bail!("--account needs --tenant");
        }
        numbering_shared::AccountId::parse(a).with_context(|| format!("--account {a:?}"))?;
    }
    if !ROLES.contains(&role) {
        bail!(
            "unknown role {role:?}: expected one of {}",
            ROLES.join(", ")
        );
    }
    if role == "tenant_pool_admin" && tenant.is_none() {
        bail!("a tenant_pool_admin token needs --tenant");
    }
    if let Some(t) = tenant {
        numbering_shared::TenantId::parse(t).with_context(|| format!("--tenant {t:?}"))?;
    }
    let secret = jwt
        .hs256_secret
        .as_deref()
        .context("no HS256 secret configured (NUMBERING_JWT_HS256_SECRET)")?;
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: subject,
        tenant_id: tenant,
        account_id: account,
        roles: vec![role],
        iss: &jwt.issuer,
        aud: &jwt.audience,
        iat: now,
        nbf: now,
        exp: now + ttl.num_seconds(),
    };
    Ok(encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}
