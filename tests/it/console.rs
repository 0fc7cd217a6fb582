//! The Commerce Ops console (`/console/`) as a browser shows it: headless
//! Chromium over the REST routers as the host mounts them, on seeded
//! tenants, leases, quarantines, contracts, a verification and an export;
//! and the same page from the admin Lambda's router.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use numbering_tests::{
    TestDb,
    app::{ISSUER, TestApp, admin_token, claims, sign, tenant_token},
    chromium::Chromium,
    lease_all, tenant_ctx,
};
use reqwest::{StatusCode, redirect::Policy};
use serde_json::{Value, json};

const A: &str = "/v1/admin/numbering";

/// Three tenants with leases, a live reservation and two released leases
/// (in quarantine), two contracts, a scheduled chain verification and one
/// regulator export.
async fn seeded() -> TestApp {
    let app = TestApp::new().await;
    let db = &app.db;
    let admin = admin_token();
    for body in [
        json!({ "contract_ref": "ROSHAN-2026", "operator_id": "roshan", "kind": "MSISDN",
                "range_start": "+93791234500", "range_end": "+93791234599",
                "starts_on": "2026-01-01", "ends_on": "2027-01-31" }),
        json!({ "contract_ref": "ATRA-SC-1", "kind": "SHORT_CODE", "range_start": "4400",
                "range_end": "4499", "starts_on": "2025-06-01" }),
    ] {
        let c = app.post(&admin, &format!("{A}/contracts"), body).await;
        assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.json);
    }
    let ent = db.pool_with("enterprise-sim", 40, 5, 5, &[], true).await;
    let smb = db.pool_with("smb-sim", 10, 2, 2, &[], false).await;
    db.pool_with("government-sim", 20, 0, 3, &[], false).await;
    let block: Vec<String> = (501..=524).map(|n| format!("+93791234{n}")).collect();
    let block = db
        .inventory(&block.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let others = db
        .inventory(&["+93771234501", "+93771234502", "+93771234503", "4455"])
        .await;
    // imported a month ago under their contracts, as a signed import files them
    sqlx::query(
        "UPDATE numbering.numbers n SET contract_id = c.id, created_at = now() - interval '30 days' \
         FROM numbering.lease_contracts c \
         WHERE c.contract_ref IN ('ROSHAN-2026', 'ATRA-SC-1') AND n.kind = c.kind \
           AND n.identifier BETWEEN c.range_start AND c.range_end",
    )
    .execute(&db.owner)
    .await
    .unwrap();
    let ent_leases = lease_all(db, &ent, &[&block[..5], &others[3..4]].concat()).await;
    for l in &ent_leases[..2] {
        db.store
            .release(&tenant_ctx(&ent), &ent, l.id)
            .await
            .expect("release");
    }
    lease_all(db, &smb, &others[..2]).await;
    db.store
        .reserve(&tenant_ctx(&smb), &smb, &others[2])
        .await
        .expect("reserve");
    numbering_store::audit::seal_pending(&db.app, Duration::from_secs(5))
        .await
        .unwrap();
    numbering_store::audit_jobs::verify_and_publish(&db.app, None)
        .await
        .unwrap();
    let export = app
        .post(
            &admin,
            &format!("{A}/exports"),
            json!({ "period": "2026-11" }),
        )
        .await;
    assert_eq!(export.status, StatusCode::CREATED, "{:?}", export.json);
    app
}

fn artefact(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/artefacts")
        .join(name)
}

/// What the page shows per tenant: kind → (used, quota), parsed from the
/// text of each cell ("3 / 40").
fn shown(rows: &Value) -> BTreeMap<String, BTreeMap<String, (i64, i64)>> {
    let n = |s: &str| s.trim().replace(',', "").parse::<i64>().unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let cells = r[1].as_array().unwrap().iter().map(|c| {
                let (used, quota) = c[1].as_str().unwrap().split_once('/').unwrap();
                (c[0].as_str().unwrap().to_owned(), (n(used), n(quota)))
            });
            (r[0].as_str().unwrap().to_owned(), cells.collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_each_tenants_utilisation_as_the_api_reports_it_with_its_charts() {
    let app = seeded().await;
    let admin = admin_token();
    let api = app.get(&admin, &format!("{A}/utilisation")).await;
    assert_eq!(api.status, StatusCode::OK, "{:?}", api.json);
    let expected: BTreeMap<String, BTreeMap<String, (i64, i64)>> = api.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let kinds = p["kinds"].as_object().unwrap().iter().map(|(k, v)| {
                let n = |f: &str| v[f].as_i64().unwrap();
                (k.clone(), (n("used"), n("quota")))
            });
            (p["tenant_id"].as_str().unwrap().to_owned(), kinds.collect())
        })
        .collect();
    // the API counts what was seeded: leases less releases, plus the live reservation
    assert_eq!(expected["enterprise-sim"]["MSISDN"], (3, 40));
    assert_eq!(expected["enterprise-sim"]["SHORT_CODE"], (1, 5));
    assert_eq!(expected["smb-sim"]["MSISDN"], (3, 10));
    assert_eq!(expected["government-sim"]["ALPHA"], (0, 3));
    let forecast = app.get(&admin, &format!("{A}/forecast")).await;
    let contracts = app.get(&admin, &format!("{A}/contracts")).await.json;
    assert_eq!(forecast.status, StatusCode::OK, "{:?}", forecast.json);
    // the block the chart is asked to draw: one with a projection
    let pick = forecast.json["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| !b["projection"].as_array().unwrap().is_empty())
        .expect("a block with a projection");
    let choose = format!(
        "(() => {{ const s = document.querySelector('#forecast-block');
            s.value = '{pick}'; s.dispatchEvent(new Event('change')); return true; }})()"
    );

    let (url, origin) = (app.url("/console/"), app.url(""));
    let shot = artefact("console.png");
    let token = admin.clone();
    let (page_rows, page, requests, errors) = tokio::task::spawn_blocking(move || {
        let mut browser = Chromium::launch();
        let page = browser.open(&url);
        page.resize(&mut browser, 1400, 1000);
        page.wait_for(
            &mut browser,
            "the sign-in form",
            "document.querySelector('#sign-in')?.hidden === false",
        );
        page.type_into(&mut browser, "#token", &token);
        page.click(&mut browser, "#sign-in-form button[type=submit]");
        page.wait_for(&mut browser, "the sections", "document.body.dataset.loaded");
        let rows = page.eval(
            &mut browser,
            "[...document.querySelectorAll('#utilisation tr[data-tenant]')].map(tr => [
                tr.dataset.tenant,
                [...tr.querySelectorAll('td.usage')].map(td =>
                    [td.dataset.kind, td.querySelector('.figures').textContent])])",
        );
        page.eval(&mut browser, &choose);
        let seen = page.eval(
            &mut browser,
            "({
                error: document.querySelector('#error').hidden ? null : document.querySelector('#error').textContent,
                signIn: !document.querySelector('#sign-in').hidden,
                session: sessionStorage.getItem('numbering.console.token'),
                local: localStorage.length,
                cookie: document.cookie,
                forecastLines: [...document.querySelectorAll('#forecast-chart path.series')]
                    .map(p => [p.dataset.name, Number(p.dataset.points)]),
                band: Number(document.querySelector('#forecast-chart path.band')?.dataset.points ?? 0),
                horizon: document.querySelector('#forecast-chart .marker')?.textContent ?? null,
                stockLines: document.querySelectorAll('#stock-chart path.series').length,
                contracts: [...document.querySelectorAll('#contracts tr[data-contract]')]
                    .map(tr => [tr.dataset.contract, tr.querySelector('td.status').textContent]),
                quarantineBars: [...document.querySelectorAll('#quarantine-chart rect.bar')]
                    .map(r => Number(r.dataset.value)),
                audit: document.querySelector('#audit .result')?.textContent ?? null,
                exports: [...document.querySelectorAll('#exports tr[data-export] td')].map(td => td.textContent),
            })",
        );
        page.screenshot(&mut browser, &shot);
        page.click(&mut browser, "#verify-now");
        let verified = page.wait_for(
            &mut browser,
            "the verification",
            "document.querySelector('#verify-result .result')?.textContent",
        );
        assert_eq!(verified.as_str().map(str::trim), Some("intact"));
        (rows, seen, browser.requests(), browser.errors())
    })
    .await
    .unwrap();

    assert_eq!(
        shown(&page_rows),
        expected,
        "the page shows the API's figures"
    );
    assert_eq!(page["error"], Value::Null, "{page:#}");
    assert_eq!(page["signIn"], false);
    assert_eq!(page["session"], admin, "the token is in sessionStorage");
    assert_eq!(page["local"], 0, "and nowhere else");
    assert_eq!(page["cookie"], "");
    assert!(
        requests.iter().all(|u| u.starts_with(&origin)),
        "only this origin is asked: {requests:#?}"
    );
    assert!(requests.iter().any(|u| u.ends_with("/console/chart.js")));

    assert_forecast_drawn(&forecast.json["blocks"][pick], &forecast.json, &page);
    let statuses: Vec<(String, String)> = contracts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let status = c["status"].as_str().unwrap_or("—");
            (
                c["contract_ref"].as_str().unwrap().to_owned(),
                status.to_owned(),
            )
        })
        .collect();
    let mut on_page: Vec<(String, String)> =
        serde_json::from_value(page["contracts"].clone()).unwrap();
    on_page.sort();
    let mut statuses = statuses;
    statuses.sort();
    assert_eq!(on_page, statuses, "each contract with its status");
    assert_eq!(
        page["quarantineBars"],
        json!([2]),
        "two leave cool-off the same day"
    );
    assert_eq!(page["audit"].as_str().map(str::trim), Some("intact"));
    assert!(
        page["exports"][0] == "2026-11" && page["exports"][2] == "GENERATED",
        "{page:#}"
    );
    assert!(errors.is_empty(), "the console logs no error: {errors:#?}");
}

fn assert_forecast_drawn(block: &Value, forecast: &Value, page: &Value) {
    let lines: BTreeMap<String, u64> =
        serde_json::from_value::<Vec<(String, u64)>>(page["forecastLines"].clone())
            .unwrap()
            .into_iter()
            .collect();
    let len = |field: &str| block[field].as_array().unwrap().len() as u64;
    assert_eq!(
        lines.get("expected"),
        Some(&len("projection")),
        "the projection is drawn: {page:#}"
    );
    assert_eq!(page["band"], len("projection"), "with its interval");
    assert_eq!(lines.get("available").copied().unwrap_or(0), len("history"));
    assert_eq!(
        page["horizon"],
        format!("{} days", forecast["horizon_days"]),
        "and the horizon line"
    );
    let with_history = forecast["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !b["history"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(page["stockLines"], with_history, "a stock line per block");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_or_a_tenants_token_shows_an_error_not_a_blank_page() {
    let app = TestApp::new().await;
    let mut expired = claims(None, "platform_admin");
    let past = chrono::Utc::now().timestamp() - 7200;
    expired["nbf"] = json!(past - 60);
    expired["iat"] = json!(past - 60);
    expired["exp"] = json!(past);
    assert_eq!(expired["iss"], ISSUER);
    let expired = sign(&expired);
    let tenant = tenant_token("enterprise-sim");
    let url = app.url("/console/");

    let (after_expired, after_tenant) = tokio::task::spawn_blocking(move || {
        let mut browser = Chromium::launch();
        let page = browser.open(&url);
        let error_shown = "(() => { const e = document.querySelector('#error');
            return !e.hidden && e.offsetHeight > 0 && !document.querySelector('#sign-in').hidden
                && e.textContent; })()";
        page.wait_for(
            &mut browser,
            "the sign-in form",
            "document.querySelector('#sign-in')?.hidden === false",
        );
        let mut shown = Vec::new();
        for token in [expired, tenant] {
            page.eval(
                &mut browser,
                "document.querySelector('#error').hidden = true",
            );
            page.type_into(&mut browser, "#token", &token);
            page.click(&mut browser, "#sign-in-form button[type=submit]");
            let text = page.wait_for(&mut browser, "the error", error_shown);
            let stored = page.eval(&mut browser, "sessionStorage.length");
            shown.push((text, stored));
        }
        let exceptions: Vec<_> = browser
            .errors()
            .into_iter()
            .filter(|e| e.starts_with("exception"))
            .collect();
        assert!(exceptions.is_empty(), "{exceptions:#?}");
        (shown[0].clone(), shown[1].clone())
    })
    .await
    .unwrap();

    assert!(
        after_expired
            .0
            .as_str()
            .unwrap()
            .contains("expired or invalid"),
        "{after_expired:?}"
    );
    assert!(
        after_tenant
            .0
            .as_str()
            .unwrap()
            .contains("not a platform admin"),
        "{after_tenant:?}"
    );
    assert_eq!(after_expired.1, 0, "a refused token is not kept");
    assert_eq!(after_tenant.1, 0, "a refused token is not kept");
}

/// `/console` redirects, and the page and its assets come with their types,
/// no caching without revalidation and a policy that allows this origin only:
/// from the host's routers and from the admin Lambda's.
#[tokio::test]
async fn the_host_and_the_admin_lambda_serve_the_page_with_a_strict_policy_and_no_token() {
    let host = TestApp::new().await;
    let lambda = numbering_http_edge::config::deployable(
        numbering_admin_api::router,
        numbering_http_edge::ApiState {
            store: TestDb::new().await.store,
            edge: numbering_tests::app::edge(),
        },
        "numbering admin API",
        numbering_admin_api::operations(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let lambda_url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, lambda).await.ok() });
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();

    for base in [host.url(""), lambda_url] {
        let r = client.get(format!("{base}/console")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT, "{base}");
        assert_eq!(r.headers()["location"], "/console/");
        for (path, kind) in [
            ("/console/", "text/html"),
            ("/console/console.js", "text/javascript"),
            ("/console/chart.js", "text/javascript"),
            ("/console/console.css", "text/css"),
        ] {
            let r = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{base}{path}");
            let h = r.headers();
            assert!(
                h["content-type"].to_str().unwrap().starts_with(kind),
                "{path}"
            );
            assert_eq!(h["cache-control"], "no-cache");
            assert_eq!(h["x-content-type-options"], "nosniff");
            let csp = h["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
            assert!(!csp.contains("http") && !csp.contains("unsafe"), "{csp}");
            assert!(
                !r.text().await.unwrap().contains("https://"),
                "{path} names no other origin"
            );
        }
        // the data is not public
        let r = client
            .get(format!("{base}{A}/utilisation"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{base}");
    }
    server.abort();
}
