//! The scarcity forecast (seed Phase 4.3) on a synthetic year with known
//! rates (`numbering_tests::synthetic`): the constant-rate block's true
//! exhaustion date lies in the reported interval, a block whose rate
//! doubles is flagged earlier than its constant-rate twin,
//! `GET /v1/admin/numbering/forecast` answers the documented shape over
//! real HTTP, and `numbering.ops.scarcity_forecast.v1` goes out once per
//! entry into the 60-day window, through the relay onto NUMBERING_OPS.

use std::time::Duration as StdDuration;

use chrono::{Duration, NaiveDate, Utc};
use numbering_store::forecast::{BlockForecast, ForecastFilter, ScarcityReport};
use numbering_tests::{
    TestDb, TestNats,
    app::{TestApp, admin_token, edge, tenant_token},
    read_stream,
    synthetic::{BlockSpec, Generated, Rate, write_year},
};
use serde_json::Value;
use uuid::Uuid;

use crate::relay::{fast, spawn_relay};

const YEAR: u32 = 365;

fn spec(contract_ref: &str, prefix: &str, size: u32, rate: Rate) -> BlockSpec {
    BlockSpec {
        contract_ref: contract_ref.into(),
        prefix: prefix.into(),
        size,
        rate,
        churn: 3.0,
    }
}

fn block<'a>(r: &'a ScarcityReport, g: &Generated) -> &'a BlockForecast {
    r.blocks
        .iter()
        .find(|b| b.block.contract_id == g.contract_id)
        .expect("the block is forecast")
}

fn date(r: &ScarcityReport, days: Option<f64>) -> Option<NaiveDate> {
    days.map(|d| numbering_shared::forecast::Forecast::date_after(r.generated_at, d))
}

#[tokio::test]
async fn a_constant_rate_blocks_true_exhaustion_date_is_within_the_reported_interval() {
    let db = TestDb::new().await;
    // 20 a day for a year (and 3 a day reserved and cancelled): ~1700 left
    let g = write_year(
        &db.owner,
        &[spec("SYN-CONST", "+9379100", 9000, Rate::Constant(20.0))],
        YEAR,
        42,
    )
    .await;
    let r = db
        .store
        .scarcity_forecast(&ForecastFilter::default(), 90)
        .await
        .unwrap();
    let b = block(&r, &g[0]);
    assert_eq!(b.block.available, g[0].available);
    assert_eq!(b.block.total, 9000);
    let truth = date(&r, Some(g[0].true_days_left())).unwrap();
    let f = &b.forecast;
    let (low, point, high) = (
        date(&r, f.earliest_days).unwrap(),
        date(&r, f.days_to_exhaustion).unwrap(),
        date(&r, f.latest_days).unwrap(),
    );
    assert!(
        low <= truth && truth <= high,
        "truth {truth} outside [{low}, {high}] (point {point}, rate {})",
        f.daily_rate
    );
    assert!(low < point && point < high);
    assert!((f.daily_rate - 20.0).abs() < 2.0, "rate {}", f.daily_rate);
    // the reconstructed stock is the generator's, day by day
    let last_days = &g[0].stock[g[0].stock.len() - 89..];
    let history: Vec<i64> = b.history.iter().map(|(_, a)| *a).collect();
    assert_eq!(&history[..89], last_days, "history ends with today");
    assert_eq!(history[89], g[0].available);
}

#[tokio::test]
async fn a_block_whose_rate_doubles_is_flagged_earlier_than_its_constant_rate_twin() {
    let db = TestDb::new().await;
    let g = write_year(
        &db.owner,
        &[
            spec("SYN-TWIN", "+9379300", 4000, Rate::Constant(10.0)),
            spec(
                "SYN-DOUBLE",
                "+9379400",
                4000,
                Rate::Doubles {
                    rate: 10.0,
                    from_day: 183,
                },
            ),
        ],
        YEAR,
        7,
    )
    .await;
    let today = Utc::now().date_naive();
    let mut first_flagged: [Option<NaiveDate>; 2] = [None, None];
    // the forecast as it would have been at the start of each day
    for back in (0..=170).rev() {
        let day = today - Duration::days(back);
        let r = db
            .store
            .scarcity_forecast_as_of(&ForecastFilter::default(), 1, Some(day))
            .await
            .unwrap();
        for (i, generated) in g.iter().enumerate() {
            if first_flagged[i].is_none() && block(&r, generated).forecast.flagged {
                first_flagged[i] = Some(day);
            }
        }
    }
    let [twin, doubling] = first_flagged;
    let doubling = doubling.expect("the doubling block is flagged");
    let twin = twin.expect("the twin is flagged by the year's end");
    assert!(
        doubling + Duration::days(60) < twin,
        "doubling flagged {doubling}, twin {twin}"
    );
    // its stock ran out (day ~291), after it was flagged
    let out = g[1].stock.iter().position(|s| *s == 0).unwrap() as i64;
    let ran_out = today - Duration::days(i64::from(YEAR)) + Duration::days(out);
    assert!(doubling < ran_out, "flagged {doubling}, ran out {ran_out}");
}

#[tokio::test]
async fn the_forecast_route_answers_the_documented_shape_over_http() {
    let db = TestDb::new().await;
    write_year(
        &db.owner,
        &[spec("SYN-ROUTE", "+9379500", 3000, Rate::Constant(8.0))],
        120,
        3,
    )
    .await;
    let app = TestApp::with_edge(db, edge()).await;
    let admin = admin_token();
    let a = app.get(&admin, "/v1/admin/numbering/forecast").await;
    assert_eq!(a.status, 200, "{:?}", a.json);
    assert!(a.json["generated_at"].as_str().unwrap().contains('T'));
    assert_eq!(a.json["horizon_days"], 60);
    assert!(a.json["method"].as_str().unwrap().contains("Holt"));
    let blocks = a.json["blocks"].as_array().unwrap();
    let b = blocks
        .iter()
        .find(|b| b["contract_ref"] == "SYN-ROUTE")
        .expect("the synthetic block");
    assert_block_shape(b);
    assert_eq!(b["operator_id"], "roshan");
    assert_eq!(b["history"].as_array().unwrap().len(), 90);
    assert_eq!(b["projection"].as_array().unwrap().len(), 60);
    let last = b["history"].as_array().unwrap().last().unwrap();
    assert_eq!(last["date"], Utc::now().date_naive().to_string());
    assert_eq!(last["available"], b["available"]);

    let a = app
        .get(
            &admin,
            "/v1/admin/numbering/forecast?operator_id=roshan&kind=MSISDN&history_days=7",
        )
        .await;
    assert_eq!(a.status, 200);
    let blocks = a.json["blocks"].as_array().unwrap();
    assert!(blocks.iter().all(|b| b["operator_id"] == "roshan"));
    assert!(blocks.iter().any(|b| b["contract_ref"] == "SYN-ROUTE"));
    assert!(
        blocks
            .iter()
            .all(|b| b["history"].as_array().unwrap().len() == 7)
    );
    let a = app
        .get(&admin, "/v1/admin/numbering/forecast?kind=SHORT_CODE")
        .await;
    assert!(
        a.json["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["kind"] == "SHORT_CODE")
    );

    for bad in [
        "history_days=0",
        "history_days=366",
        "history_days=x",
        "kind=PIGEON",
    ] {
        let a = app
            .get(&admin, &format!("/v1/admin/numbering/forecast?{bad}"))
            .await;
        assert_eq!(a.status, 422, "{bad}: {:?}", a.json);
        assert!(a.is_problem() && a.code() == "VALIDATION_FAILED", "{bad}");
    }
    let a = app
        .get(&tenant_token("acme"), "/v1/admin/numbering/forecast")
        .await;
    assert_eq!(a.status, 403);
}

fn assert_block_shape(b: &Value) {
    for key in [
        "operator_id",
        "kind",
        "contract_id",
        "contract_ref",
        "range_start",
        "range_end",
    ] {
        assert!(b[key].is_string(), "{key}: {b}");
    }
    for key in ["total", "available"] {
        assert!(b[key].is_i64(), "{key}");
    }
    assert!(b["daily_rate"].is_number());
    assert!(b["flagged"].is_boolean());
    for key in ["exhaustion_date", "exhaustion_low", "exhaustion_high"] {
        let v = &b[key];
        assert!(
            v.is_null() || NaiveDate::parse_from_str(v.as_str().unwrap(), "%Y-%m-%d").is_ok(),
            "{key}: {v}"
        );
    }
    assert!(b["days_to_exhaustion"].is_null() || b["days_to_exhaustion"].is_number());
    for h in b["history"].as_array().unwrap() {
        assert!(h["date"].is_string() && h["available"].is_i64(), "{h}");
    }
    for p in b["projection"].as_array().unwrap() {
        assert!(p["date"].is_string(), "{p}");
        for key in ["expected", "low", "high"] {
            assert!(p[key].is_number(), "{p}");
        }
        assert!(p["low"].as_f64() <= p["expected"].as_f64());
        assert!(p["expected"].as_f64() <= p["high"].as_f64());
    }
}

async fn events(db: &TestDb) -> Vec<(String, Value)> {
    sqlx::query_as(
        "SELECT aggregate_id, payload::jsonb FROM numbering.outbox \
         WHERE event_type = 'numbering.ops.scarcity_forecast.v1' ORDER BY id",
    )
    .fetch_all(&db.owner)
    .await
    .unwrap()
    .into_iter()
    .map(|(id, v): (String, sqlx::types::Json<Value>)| (id, v.0))
    .collect()
}

#[tokio::test]
async fn a_block_entering_the_window_gets_one_event_per_entry_on_numbering_ops() {
    let db = TestDb::new().await;
    // ~25 days left: in the window; ~300 days left: not
    let g = write_year(
        &db.owner,
        &[
            spec("SYN-SCARCE", "+9379600", 7800, Rate::Constant(20.0)),
            spec("SYN-PLENTY", "+9379700", 9000, Rate::Constant(4.0)),
        ],
        YEAR,
        11,
    )
    .await;
    let (scarce, plenty) = (g[0].contract_id, g[1].contract_id);
    let entered = db.store.scarcity_flag_pass().await.unwrap();
    assert_eq!(entered, vec![scarce]);
    assert_eq!(
        db.store.scarcity_flag_pass().await.unwrap(),
        Vec::<Uuid>::new()
    );
    let got = events(&db).await;
    assert_eq!(got.len(), 1, "one event for one entry: {got:?}");
    assert_eq!(got[0].0, scarce.to_string());
    let schema = numbering_tests::schema::event_schema("numbering.ops.scarcity_forecast.v1")
        .expect("documented in docs/events");
    numbering_tests::schema::assert_valid(&schema, &got[0].1);
    assert_eq!(got[0].1["contract_ref"], "SYN-SCARCE");
    assert_ne!(plenty, scarce);

    // an import of 5000 takes it out of the window (re-armed) …
    add_stock(&db, scarce, "+9379680", 5000).await;
    assert!(db.store.scarcity_flag_pass().await.unwrap().is_empty());
    let flagged: bool =
        sqlx::query_scalar("SELECT flagged FROM numbering.scarcity_flags WHERE contract_id = $1")
            .bind(scarce)
            .fetch_one(&db.owner)
            .await
            .unwrap();
    assert!(!flagged);
    // … and retiring them brings it back in: a second event
    sqlx::query("UPDATE numbering.numbers SET state = 'RETIRED' WHERE identifier LIKE '+9379680%'")
        .execute(&db.owner)
        .await
        .unwrap();
    assert_eq!(db.store.scarcity_flag_pass().await.unwrap(), vec![scarce]);
    assert_eq!(events(&db).await.len(), 2);

    // the outbox relay puts them on NUMBERING_OPS like every event
    let nats = TestNats::start();
    let (_stop, _relay) = spawn_relay(&db, nats.client().await, fast());
    let client = nats.client().await;
    let got = read_stream(
        &client,
        "NUMBERING_OPS",
        "numbering.ops.scarcity_forecast.v1",
        2,
        StdDuration::from_secs(20),
    )
    .await;
    assert_eq!(got.len(), 2);
    let e: Value = serde_json::from_slice(&got[0].payload).unwrap();
    assert_eq!(e["data"]["contract_id"], scarce.to_string());
}

#[tokio::test]
async fn the_hosts_forecast_job_runs_one_pass_at_a_time_and_flags_once() {
    use numbering::forecast_job::{JOB_LOCK, once};
    let db = TestDb::new().await;
    // ~100 left at 10 a day: in the window
    let g = write_year(
        &db.owner,
        &[spec("SYN-JOB", "+9379800", 400, Rate::Constant(10.0))],
        30,
        5,
    )
    .await;
    let held = numbering_store::lock::SessionLock::try_acquire(&db.app, JOB_LOCK)
        .await
        .unwrap()
        .expect("the job's lock");
    assert_eq!(
        once(&db.store).await.unwrap(),
        None,
        "another host's pass runs"
    );
    assert!(events(&db).await.is_empty());
    held.release().await;
    assert_eq!(once(&db.store).await.unwrap(), Some(vec![g[0].contract_id]));
    assert_eq!(once(&db.store).await.unwrap(), Some(vec![]));
    assert_eq!(events(&db).await.len(), 1);
}

/// `count` AVAILABLE identifiers of `contract`, imported now.
async fn add_stock(db: &TestDb, contract: Uuid, prefix: &str, count: i32) {
    sqlx::query(
        "INSERT INTO numbering.numbers (identifier, identity_key, kind, operator_id, mcc, mnc, contract_id) \
         SELECT x.id, x.id, 'MSISDN', 'roshan', '412', '40', $2 \
         FROM generate_series(0, $3 - 1) i, LATERAL (SELECT $1 || lpad(i::text, 4, '0') AS id) x",
    )
    .bind(prefix)
    .bind(contract)
    .bind(count)
    .execute(&db.owner)
    .await
    .unwrap();
}
