//! `TestApp`: the REST APIs served in-process on 127.0.0.1:0 over a fresh
//! test database, with a client and a token minter.

use std::net::SocketAddr;

use jsonwebtoken::{EncodingKey, Header, encode};
use numbering_http_edge::{Edge, Verifier, with_fallbacks};
use numbering_store::Store;
use reqwest::{Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};

use crate::TestDb;

pub const SECRET: &str = "test-secret-of-the-rest-apis-0123456789";
pub const ISSUER: &str = "numbering-test";
pub const AUDIENCE: &str = "numbering";

pub struct TestApp {
    pub db: TestDb,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

/// One answer: status, headers, raw body and the body as JSON (Null if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.json.get("code").and_then(Value::as_str).unwrap_or("")
    }
    pub fn is_problem(&self) -> bool {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/problem+json"))
            && self.json.get("code").is_some()
    }
    pub fn str(&self, field: &str) -> String {
        self.json[field].as_str().unwrap_or_default().to_owned()
    }
}

pub fn edge() -> Edge {
    let mut edge = Edge::new(Verifier::new(ISSUER, AUDIENCE).with_hs256(SECRET.as_bytes()));
    edge.exports = Some(export_tools());
    edge
}

/// The regulator export with a local Ed25519 key and a local WORM
/// directory, both in a fresh temporary directory.
pub fn export_tools() -> numbering_export::ExportTools {
    // named after this process, so the next run removes it with the cluster
    let dir = std::env::temp_dir().join(format!(
        "numbering-exports-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    numbering_export::ExportTools {
        signer: std::sync::Arc::new(
            numbering_export::signer::LocalSigner::load_or_generate(&dir.join("signing-key.pem"))
                .expect("a local signing key"),
        ),
        store: std::sync::Arc::new(numbering_export::worm::LocalDirWorm::new(dir.join("worm"))),
    }
}

/// [`edge`] with the admin API's two-person rule as `vars` configure it
/// (`NUMBERING_TWO_PERSON_ACTIONS`, …), parsed as the host parses them.
pub fn edge_with_two_person(vars: &[(&str, &str)]) -> Edge {
    let get = |k: &str| {
        vars.iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    };
    numbering_admin_api::config::TwoPersonConfig::from_lookup(&get)
        .expect("a two-person configuration")
        .apply(edge())
}

/// [`edge`] of a single-admin deployment: `NUMBERING_TWO_PERSON_ACTIONS=none`.
pub fn single_admin_edge() -> Edge {
    edge_with_two_person(&[("NUMBERING_TWO_PERSON_ACTIONS", "none")])
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_edge(TestDb::new().await, edge()).await
    }

    /// A single-admin deployment: the two-person rule explicitly off
    /// (`NUMBERING_TWO_PERSON_ACTIONS=none`), so one admin's dangerous
    /// action applies at once (and its audit entry says the rule was off).
    pub async fn single_admin() -> Self {
        Self::with_edge(TestDb::new().await, single_admin_edge()).await
    }

    pub async fn with_edge(db: TestDb, edge: Edge) -> Self {
        let store = db.store.clone();
        let (addr, server) = serve(store, edge).await;
        Self {
            db,
            addr,
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .unwrap(),
            server,
        }
    }

    /// Stops serving and serves a new router with new state over the same
    /// database (a restart, as far as the REST edge is concerned).
    pub async fn restart(&mut self) {
        self.server.abort();
        let store = Store::new(self.db.app.clone(), *self.db.store.policy());
        let (addr, server) = serve(store, edge()).await;
        self.addr = addr;
        self.server = server;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(Method::GET, path, Some(token), None, None).await
    }

    /// A mutating call with a fresh Idempotency-Key.
    pub async fn send(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let key = uuid::Uuid::new_v4().to_string();
        self.call(method, path, Some(token), Some(&key), body.as_ref())
            .await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.send(Method::POST, token, path, Some(body)).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.expect("body").to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        bytes,
        json,
    }
}

async fn serve(store: Store, edge: Edge) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let app = with_fallbacks(numbering::serve::rest_router(store, edge));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    (addr, server)
}

/// Claims of a token, to tweak before signing.
pub fn claims(tenant: Option<&str>, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": "test-user", "roles": [role], "iss": ISSUER, "aud": AUDIENCE,
        "iat": now, "nbf": now, "exp": now + 3600,
    });
    if let Some(t) = tenant {
        c["tenant_id"] = json!(t);
    }
    c
}

pub fn sign(claims: &Value) -> String {
    sign_with(claims, SECRET)
}

pub fn sign_with(claims: &Value, secret: &str) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A tenant_pool_admin token for `tenant`.
pub fn tenant_token(tenant: &str) -> String {
    sign(&claims(Some(tenant), "tenant_pool_admin"))
}

/// A platform_admin token.
pub fn admin_token() -> String {
    sign(&claims(None, "platform_admin"))
}

/// A platform_admin token of the admin `sub` (two admins are two subjects).
pub fn admin_token_of(sub: &str) -> String {
    let mut c = claims(None, "platform_admin");
    c["sub"] = serde_json::json!(sub);
    sign(&c)
}
