//! The regulator export and its write-once storage: S3 Object Lock in
//! COMPLIANCE mode against moto's S3, a local directory in development.

use numbering_export::worm::{Body, S3Worm, WormError, WormStore, retention_years};
use numbering_tests::hot_path::TestMoto;

/// Objects land with COMPLIANCE retention until the requested date; the
/// locked version cannot be deleted, and the key is never written twice.
#[tokio::test]
async fn s3_worm_objects_are_locked_in_compliance_mode() {
    let moto = TestMoto::start();
    let store = S3Worm::new(moto.s3().await, "worm-test", "exports");
    store.ensure_bucket().await.unwrap();
    assert_eq!(store.describe(), "s3://worm-test/exports");

    let until = retention_years(7);
    let stored = store
        .put("2026-05/v1/manifest.json", Body::Bytes("{}".into()), until)
        .await
        .unwrap();
    assert_eq!(
        stored.uri,
        "s3://worm-test/exports/2026-05/v1/manifest.json"
    );
    let version = stored.version_id.clone().expect("a versioned bucket");

    let s3 = store.client();
    // moto answers GetObjectRetention with the object itself; HeadObject
    // carries the same lock headers.
    let head = s3
        .head_object()
        .bucket("worm-test")
        .key("exports/2026-05/v1/manifest.json")
        .version_id(&version)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode,
        Some(aws_sdk_s3::types::ObjectLockMode::Compliance)
    );
    let retain_until = head.object_lock_retain_until_date.unwrap().secs();
    assert!(
        (retain_until - until.timestamp()).abs() <= 1,
        "{retain_until}"
    );

    let delete = s3
        .delete_object()
        .bucket("worm-test")
        .key("exports/2026-05/v1/manifest.json")
        .version_id(&version)
        .send()
        .await;
    let refused = aws_sdk_s3::error::DisplayErrorContext(delete.unwrap_err()).to_string();
    assert!(refused.contains("AccessDenied"), "{refused}");

    let again = store
        .put(
            "2026-05/v1/manifest.json",
            Body::Bytes("{\"x\":1}".into()),
            until,
        )
        .await;
    assert!(
        matches!(again, Err(WormError::AlreadyExists(_))),
        "{again:?}"
    );
    assert_eq!(store.get("2026-05/v1/manifest.json").await.unwrap(), b"{}");

    // A file body is streamed from disk.
    let file = std::env::temp_dir().join(format!("worm-{}.csv", uuid::Uuid::new_v4().simple()));
    std::fs::write(&file, "a,b\r\n1,2\r\n").unwrap();
    store
        .put("2026-05/v1/inventory.csv", Body::File(file.clone()), until)
        .await
        .unwrap();
    assert_eq!(
        store.get("2026-05/v1/inventory.csv").await.unwrap(),
        b"a,b\r\n1,2\r\n"
    );
    std::fs::remove_file(file).ok();
    assert!(matches!(
        store.get("2026-05/v9/manifest.json").await,
        Err(WormError::NotFound(_))
    ));
}
