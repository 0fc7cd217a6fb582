//! `migrations/schema.sql` is the schema the migrations produce, as
//! `pg_dump --schema-only` prints it, so a reader sees the current schema
//! without replaying every migration. The test fails when the two differ;
//! `NUMBERING_BLESS=1` rewrites the file instead.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use numbering_tests::TestDb;
use sqlx::{Connection, PgConnection};

const REGENERATE: &str =
    "NUMBERING_BLESS=1 cargo test -p numbering-tests --test it -- schema_dump::";

fn migrations_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations")
}

/// Written above the dump, so the file says what it is.
const HEADER: &str = "\
-- The schema after every migration, as `pg_dump --schema-only` prints it.
-- Generated: do not edit. A test compares it with what the migrations
-- produce; regenerate it with
--   NUMBERING_BLESS=1 cargo test -p numbering-tests --test it -- schema_dump::
-- Left out: the migrator's own table (public._sqlx_migrations), the roles
-- (cluster-wide: numbering_app, numbering_reader, numbering_hot_path are
-- created by the migrations), and the monthly audit partitions
-- (numbering.audit_log_yYYYYmMM), whose names depend on the day the
-- migrations ran: numbering.ensure_audit_partitions creates them.
";

#[tokio::test]
async fn schema_sql_is_what_the_migrations_produce() {
    let produced = normalise(&dump_freshly_migrated().await);
    let path = migrations_dir().join("schema.sql");
    if std::env::var("NUMBERING_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &produced).expect("write migrations/schema.sql");
        eprintln!("wrote {}", path.display());
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if let Some(difference) = first_difference(&checked_in, &produced) {
        panic!(
            "migrations/schema.sql is not the schema the migrations produce \
             ({difference}).\nRegenerate it with:\n  {REGENERATE}"
        );
    }
}

#[test]
fn the_migrator_runs_every_dated_file_and_not_schema_sql() {
    let dated: BTreeSet<i64> = std::fs::read_dir(migrations_dir())
        .expect("migrations/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql") && name != "schema.sql")
        .map(|name| {
            let (version, _) = name.split_once('_').expect("VERSION_description.sql");
            version.parse().expect("a numeric version")
        })
        .collect();
    let embedded: BTreeSet<i64> = numbering_store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .collect();
    assert_eq!(embedded, dated);
    assert!(
        numbering_store::MIGRATOR
            .iter()
            .all(|m| !m.description.contains("schema.sql") && m.description != "schema"),
        "schema.sql must not be a migration"
    );
    assert!(migrations_dir().join("schema.sql").is_file());
}

/// `pg_dump --schema-only` of a new database the migrations were just
/// applied to, without the date-named audit partitions.
async fn dump_freshly_migrated() -> String {
    let probe = TestDb::new().await; // brings the test server up
    let server = probe.owner_url.rsplit_once('/').unwrap().0.to_owned();
    let name = format!("schema_{}", uuid::Uuid::new_v4().simple());
    let mut su = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to the test server");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut su)
        .await
        .expect("create database");
    let url = format!("{server}/{name}");
    numbering_store::migrate(&url).await.expect("migrate");

    let mut db = PgConnection::connect(&url).await.expect("connect");
    let dated: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'numbering.audit_log'::regclass \
           AND c.relname ~ '^audit_log_y[0-9]{4}m[0-9]{2}$'",
    )
    .fetch_all(&mut db)
    .await
    .expect("audit partitions");
    assert!(
        !dated.is_empty(),
        "the migrations create monthly partitions"
    );
    for partition in &dated {
        sqlx::query(&format!("DROP TABLE numbering.{partition}"))
            .execute(&mut db)
            .await
            .unwrap_or_else(|e| panic!("drop {partition}: {e}"));
    }
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&mut db)
        .await
        .unwrap();
    db.close().await.ok();

    let out = Command::new(pg_dump())
        .args([
            "--schema-only",
            "--exclude-table=public._sqlx_migrations",
            "--dbname",
        ])
        .arg(&url)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut su)
        .await
        .ok();
    // the harness's superuser is `postgres`; another server's may not be
    String::from_utf8(out.stdout)
        .expect("UTF-8 dump")
        .replace(&format!("OWNER TO {user};"), "OWNER TO postgres;")
        .replace(&format!("; Owner: {user}\n"), "; Owner: postgres\n")
}

/// `pg_dump` of the Postgres the harness runs (the directory holding its
/// `postgres` and `initdb`: the same major version), else the one on `PATH`.
fn pg_dump() -> PathBuf {
    numbering::embedded::find_bin_dir()
        .map(|dir| dir.join("pg_dump"))
        .ok()
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("pg_dump"))
}

/// The dump without what varies between runs: the random keys of
/// `\restrict` / `\unrestrict` (pg_dump 15.14 and later) and the version
/// lines; with [`HEADER`] in front.
fn normalise(dump: &str) -> String {
    let body: Vec<&str> = dump
        .lines()
        .filter(|l| !l.starts_with("\\restrict ") && !l.starts_with("\\unrestrict "))
        .filter(|l| !l.starts_with("-- Dumped from ") && !l.starts_with("-- Dumped by "))
        .collect();
    format!("{HEADER}{}\n", body.join("\n").trim())
}

/// Where `expected` and `actual` first differ, as "line N: …", if they do.
fn first_difference(expected: &str, actual: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let (mut e, mut a) = (expected.lines(), actual.lines());
    let mut n = 1;
    loop {
        match (e.next(), a.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => {
                return Some(format!(
                    "line {n}: the file has {:?}, the migrations give {:?}",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of dump>")
                ));
            }
        }
    }
}
