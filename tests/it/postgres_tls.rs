//! The service reaches a Postgres that requires TLS (RDS forces it by
//! default): `sslmode` up to `verify-full`, with `sslrootcert`, through
//! rustls. Against a cluster of its own with `ssl = on` and a certificate
//! made here for `localhost`.

use std::{path::Path, time::Duration};

use numbering::embedded::{Durability, EmbeddedPostgres};
use numbering_store::PoolConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

/// Writes `contents` into the cluster's data directory, owned by whoever
/// owns that directory (the unprivileged user the server runs as) with
/// mode 0600, as Postgres requires of its key.
fn write_for_server(data_dir: &Path, name: &str, contents: &str) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let path = data_dir.join(name);
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner = std::fs::metadata(data_dir).unwrap();
    std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).unwrap();
}

/// A cluster with `ssl = on`, serving a certificate for `localhost` signed
/// by the returned CA (PEM).
async fn tls_cluster(dir: &Path) -> (EmbeddedPostgres, String) {
    let pg = tokio::task::spawn_blocking({
        let dir = dir.to_owned();
        move || EmbeddedPostgres::start(&dir, 0, Durability::Throwaway).unwrap()
    })
    .await
    .unwrap();
    let ca = ca("numbering test CA");
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
    p.distinguished_name.push(DnType::CommonName, "localhost");
    let cert = p.signed_by(&key, &ca).unwrap();
    write_for_server(pg.data_dir(), "server.crt", &cert.pem());
    write_for_server(pg.data_dir(), "server.key", &key.serialize_pem());
    let owner = sqlx::PgPool::connect(&pg.url("postgres")).await.unwrap();
    for statement in [
        "ALTER SYSTEM SET ssl = on",
        "ALTER SYSTEM SET ssl_cert_file = 'server.crt'",
        "ALTER SYSTEM SET ssl_key_file = 'server.key'",
    ] {
        sqlx::query(statement).execute(&owner).await.unwrap();
    }
    let reloaded: bool = sqlx::query_scalar("SELECT pg_reload_conf()")
        .fetch_one(&owner)
        .await
        .unwrap();
    assert!(reloaded);
    // the reload is asynchronous: wait until the server says TLS is on
    numbering_tests::eventually(Duration::from_secs(30), "ssl = on", || async {
        sqlx::query_scalar::<_, String>("SHOW ssl")
            .fetch_one(&owner)
            .await
            .is_ok_and(|v| v == "on")
    })
    .await;
    owner.close().await;
    (pg, ca.pem())
}

/// Opens the service's pool at `url` and says whether its connection is
/// encrypted (`pg_stat_ssl`).
async fn connect(url: &str) -> Result<bool, sqlx::Error> {
    let pool = numbering_store::connect(&PoolConfig {
        set_role: None,
        max_connections: 1,
        acquire_timeout: Duration::from_secs(30),
        ..PoolConfig::new(url)
    })
    .await?;
    let ssl = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(ssl)
}

#[tokio::test]
async fn sslmode_up_to_verify_full_with_sslrootcert_reaches_a_tls_postgres() {
    let dir =
        std::env::temp_dir().join(format!("numbering-pgtls-{}", uuid::Uuid::new_v4().simple()));
    let (pg, ca_pem) = tls_cluster(&dir).await;
    let right_ca = dir.join("ca.pem");
    std::fs::write(&right_ca, &ca_pem).unwrap();
    let wrong_ca = dir.join("other-ca.pem");
    std::fs::write(&wrong_ca, ca("someone else's CA").pem()).unwrap();
    let port = pg.port();
    let url =
        |host: &str, query: &str| format!("postgres://postgres@{host}:{port}/postgres?{query}");

    // require: encrypted, the certificate not checked
    assert!(connect(&url("127.0.0.1", "sslmode=require")).await.unwrap());
    // verify-full: the chain to sslrootcert and the host name
    let verify_full = format!("sslmode=verify-full&sslrootcert={}", right_ca.display());
    assert!(connect(&url("localhost", &verify_full)).await.unwrap());
    // verify-ca: refused with what to use instead (sqlx 0.8 on rustls would
    // check the host name too, sqlx issue 3793)
    let verify_ca = format!("sslmode=verify-ca&sslrootcert={}", right_ca.display());
    let error = connect(&url("127.0.0.1", &verify_ca)).await.unwrap_err();
    assert!(
        error.to_string().contains("use sslmode=verify-full"),
        "{error}"
    );

    // a certificate from another CA: refused at once, saying why
    let wrong = format!("sslmode=verify-full&sslrootcert={}", wrong_ca.display());
    let error = connect(&url("localhost", &wrong)).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("invalid peer certificate: UnknownIssuer"),
        "says the issuer is unknown: {error}"
    );
    // the right CA, but not the name the certificate was made for
    let error = connect(&url("127.0.0.1", &verify_full)).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("certificate not valid for name \"127.0.0.1\""),
        "says the name does not match: {error}"
    );

    // the shipped binary, end to end: migrations and the application pool
    let migrate = std::process::Command::new(numbering_tests::numbering_bin())
        .arg("migrate")
        .env("DATABASE_URL", url("localhost", &verify_full))
        .env_remove("NUMBERING_MIGRATE_DATABASE_URL")
        .env("NUMBERING_DATA_DIR", dir.join("data-dir"))
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&migrate.stdout),
        "migrations applied\n"
    );
    pg.stop();
    std::fs::remove_dir_all(dir).ok();
}
