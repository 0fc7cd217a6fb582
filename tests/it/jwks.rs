//! Tokens signed with asymmetric keys from a JWKS (EdDSA here), and the
//! algorithm-confusion attacks a JWKS invites.

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
    let der = [
        hex::decode("302e020100300506032b657004220420").unwrap(),
        SEED.to_vec(),
    ]
    .concat();
    let public = ed25519_dalek::SigningKey::from_bytes(&SEED)
        .verifying_key()
        .to_bytes();
    (
        EncodingKey::from_ed_der(&der),
        URL_SAFE_NO_PAD.encode(public),
    )
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
