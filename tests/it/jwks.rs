//! Tokens signed with asymmetric keys from a JWKS (EdDSA here) — inline or
//! fetched from an identity provider's URL — and the algorithm-confusion
//! attacks a JWKS invites.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use numbering_http_edge::{Edge, Verifier};
use numbering_tests::{
    TestDb,
    app::{AUDIENCE, ISSUER, SECRET, TestApp, claims, sign_with},
};
use reqwest::StatusCode;
use serde_json::json;

const SEED: [u8; 32] = [7; 32];

fn eddsa_key() -> (EncodingKey, String) {
    eddsa_key_from(SEED)
}

fn eddsa_key_from(seed: [u8; 32]) -> (EncodingKey, String) {
    let der = [
        hex::decode("302e020100300506032b657004220420").unwrap(),
        seed.to_vec(),
    ]
    .concat();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    (
        EncodingKey::from_ed_der(&der),
        URL_SAFE_NO_PAD.encode(public),
    )
}

fn jwk(kid: &str, x: &str) -> serde_json::Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA", "use": "sig", "x": x })
}

fn eddsa_token(kid: &str, key: &EncodingKey, claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some(kid.into());
    encode(&h, claims, key).unwrap()
}

/// An identity provider's JWKS endpoint on loopback: serves whatever
/// `keys` holds (or 503 when `keys` is null) and counts the fetches.
struct Idp {
    url: String,
    keys: std::sync::Arc<std::sync::Mutex<serde_json::Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Idp {
    async fn start(keys: serde_json::Value) -> Self {
        use std::sync::{Arc, Mutex, atomic::AtomicUsize};
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/.well-known/jwks.json",
            axum::routing::get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let keys = k.lock().unwrap().clone();
                    if keys.is_null() {
                        Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        Ok(axum::Json(keys))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, keys, fetches }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn keys_from_a_jwks_url_are_fetched_rotated_and_kept_while_the_idp_is_down() {
    let (key_a, x_a) = eddsa_key_from([1; 32]);
    let (key_b, x_b) = eddsa_key_from([2; 32]);
    let idp = Idp::start(json!({ "keys": [jwk("idp-a", &x_a)] })).await;
    let verifier = Verifier::new(ISSUER, AUDIENCE)
        .with_jwks_url(&idp.url, std::time::Duration::from_secs(3600))
        .unwrap();
    let edge = Edge::new(verifier);
    let verifier = edge.verifier.clone();
    let app = TestApp::with_edge(TestDb::new().await, edge).await;
    app.db.pool_for("acme").await;
    let c = claims(Some("acme"), "tenant_pool_admin");
    let path = "/v1/portal/numbering/pool";

    // first use fetches the keys
    assert_eq!(idp.fetches(), 0);
    let token_a = eddsa_token("idp-a", &key_a, &c);
    assert_eq!(app.get(&token_a, path).await.status, StatusCode::OK);
    assert_eq!(idp.fetches(), 1);
    assert_eq!(app.get(&token_a, path).await.status, StatusCode::OK);
    assert_eq!(idp.fetches(), 1, "known keys are not refetched per request");

    // the IdP rotates to key B and retires A: a token naming B refetches
    *idp.keys.lock().unwrap() = json!({ "keys": [jwk("idp-b", &x_b)] });
    // (one refetch per REFETCH_AT_MOST_EVERY: wait out the first fetch's slot)
    tokio::time::sleep(numbering_http_edge::auth::REFETCH_AT_MOST_EVERY).await;
    let token_b = eddsa_token("idp-b", &key_b, &c);
    assert_eq!(app.get(&token_b, path).await.status, StatusCode::OK);
    assert_eq!(idp.fetches(), 2);
    assert_eq!(
        app.get(&token_a, path).await.status,
        StatusCode::UNAUTHORIZED,
        "a key the IdP no longer publishes is no longer accepted"
    );

    // a flood of made-up kids costs at most one fetch per interval
    for i in 0..50 {
        let forged = eddsa_token(&format!("forged-{i}"), &key_b, &c);
        assert_eq!(
            app.get(&forged, path).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(idp.fetches() <= 3, "fetched {} times", idp.fetches());

    // the IdP fails: the refresh reports it, and the keys fetched last stay in use
    *idp.keys.lock().unwrap() = serde_json::Value::Null;
    assert!(verifier.refresh().await.is_err());
    assert_eq!(app.get(&token_b, path).await.status, StatusCode::OK);
}

#[tokio::test]
async fn before_the_first_successful_fetch_no_jwks_token_is_accepted() {
    let (key, _) = eddsa_key_from([3; 32]);
    let verifier = Verifier::new(ISSUER, AUDIENCE)
        // nothing listens there
        .with_jwks_url(
            "http://127.0.0.1:9/.well-known/jwks.json",
            std::time::Duration::from_secs(60),
        )
        .unwrap()
        .with_hs256(SECRET.as_bytes());
    let app = TestApp::with_edge(TestDb::new().await, Edge::new(verifier)).await;
    app.db.pool_for("acme").await;
    let c = claims(Some("acme"), "tenant_pool_admin");
    let path = "/v1/portal/numbering/pool";
    assert_eq!(
        app.get(&eddsa_token("idp-a", &key, &c), path).await.status,
        StatusCode::UNAUTHORIZED
    );
    // the other configured keys are unaffected
    assert_eq!(
        app.get(&sign_with(&c, SECRET), path).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_eddsa_token_from_the_jwks_is_accepted_and_confused_or_unknown_keys_are_not() {
    let (key, x) = eddsa_key();
    let jwks = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "kid": "portal-1", "alg": "EdDSA", "use": "sig", "x": x }] });
    let verifier = Verifier::new(ISSUER, AUDIENCE)
        .with_hs256(SECRET.as_bytes())
        .with_jwks(&jwks.to_string())
        .unwrap();
    let app = TestApp::with_edge(TestDb::new().await, Edge::new(verifier)).await;
    app.db.pool_for("acme").await;
    let c = claims(Some("acme"), "tenant_pool_admin");

    let mut h = Header::new(Algorithm::EdDSA);
    h.kid = Some("portal-1".into());
    let good = encode(&h, &c, &key).unwrap();
    assert_eq!(
        app.get(&good, "/v1/portal/numbering/pool").await.status,
        StatusCode::OK
    );

    h.kid = Some("someone-else".into());
    let unknown = encode(&h, &c, &key).unwrap();
    assert_eq!(
        app.get(&unknown, "/v1/portal/numbering/pool").await.status,
        StatusCode::UNAUTHORIZED
    );

    // HS256 "signed" with the public key's bytes must not pass as the JWKS key
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("portal-1".into());
    let confused = encode(&hs, &c, &EncodingKey::from_secret(x.as_bytes())).unwrap();
    assert_eq!(
        app.get(&confused, "/v1/portal/numbering/pool").await.status,
        StatusCode::UNAUTHORIZED
    );
    // the development secret still works alongside
    assert_eq!(
        app.get(&sign_with(&c, SECRET), "/v1/portal/numbering/pool")
            .await
            .status,
        StatusCode::OK
    );
}

#[test]
fn a_jwks_key_without_a_kid_or_with_an_unsupported_algorithm_is_a_configuration_error() {
    let v = Verifier::new(ISSUER, AUDIENCE);
    assert!(
        v.with_jwks(r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}"#)
            .is_err()
    );
    let v = Verifier::new(ISSUER, AUDIENCE);
    assert!(v.with_jwks("not json").is_err());
}
