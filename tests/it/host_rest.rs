//! The REST APIs as the `numbering serve` host mounts them: OpenAPI and
//! docs, a portal flow with the demo tokens, and the counters at /metrics.
//! Called from the host test, which owns the running host.

use serde_json::{Value, json};

fn banner_token(banner: &str, who: &str) -> String {
    banner
        .lines()
        .find(|l| l.trim_start().starts_with(who))
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or_else(|| panic!("a token for {who} in the banner"))
        .to_owned()
}

pub async fn check(base: &str, banner: &str) {
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(
        http.get(format!("{base}/docs"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let (a, b) = (
        banner_token(banner, "enterprise-sim"),
        banner_token(banner, "smb-sim"),
    );
    let page: Value = http
        .get(format!(
            "{base}/v1/portal/numbering/available?kind=MSISDN&limit=1"
        ))
        .bearer_auth(&a)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = page["items"][0]["identifier"]
        .as_str()
        .expect("demo stock")
        .to_owned();
    let reserve = |token: String| {
        let (http, id) = (http.clone(), id.clone());
        async move {
            http.post(format!("{base}/v1/portal/numbering/reservations"))
                .bearer_auth(token)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
                .json(&json!({ "identifier": id }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(reserve(a).await.status(), 201);
    let lost = reserve(b).await;
    assert_eq!(lost.status(), 409);
    assert_eq!(lost.json::<Value>().await.unwrap()["code"], "CONFLICT");

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "numbering_reserve_total",
        "numbering_conflicts_total",
        "route=\"/v1/portal/numbering/reservations\"",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics:\n{metrics}");
    }
}
