//! The standard gRPC services on the host's port: health follows readiness,
//! and reflection speaks `v1` and `v1alpha` and lists only what is served.

use std::{collections::BTreeSet, time::Duration};

use numbering_tests::{
    TestDb,
    hot_path::{HostSetup, TestHost},
};
use sqlx::{Connection, PgConnection};
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_client::HealthClient,
};

/// `grpc.health.v1.Health/Check` of `service`: its status.
pub async fn health_of(channel: Channel, service: &str) -> Result<ServingStatus, tonic::Status> {
    let answer = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner();
    Ok(ServingStatus::try_from(answer.status).expect("a known serving status"))
}

/// A reflection client for one protocol version (the two are the same
/// messages in different packages).
macro_rules! reflection_client {
    ($module:ident) => {
        pub mod $module {
            use std::collections::BTreeSet;

            use tonic::transport::Channel;
            use tonic_reflection::pb::$module::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest,
                server_reflection_response::MessageResponse,
            };

            async fn ask(
                channel: Channel,
                request: MessageRequest,
            ) -> Result<MessageResponse, tonic::Status> {
                let request = ServerReflectionRequest {
                    host: String::new(),
                    message_request: Some(request),
                };
                let mut answers = ServerReflectionClient::new(channel)
                    .server_reflection_info(futures_util::stream::iter([request]))
                    .await
                    .expect(concat!("reflection ", stringify!($module), " answers"))
                    .into_inner();
                Ok(answers
                    .message()
                    .await?
                    .expect("one answer")
                    .message_response
                    .expect("an answer with a response"))
            }

            /// The services the server lists.
            pub async fn services(channel: Channel) -> BTreeSet<String> {
                match ask(channel, MessageRequest::ListServices(String::new()))
                    .await
                    .unwrap()
                {
                    MessageResponse::ListServicesResponse(l) => {
                        l.service.into_iter().map(|s| s.name).collect()
                    }
                    other => panic!("not a service list: {other:?}"),
                }
            }

            /// The encoded file descriptors holding `symbol`, or the code
            /// of the error it is answered with.
            pub async fn file_of(
                channel: Channel,
                symbol: &str,
            ) -> Result<Vec<Vec<u8>>, tonic::Code> {
                let request = MessageRequest::FileContainingSymbol(symbol.into());
                match ask(channel, request).await {
                    Ok(MessageResponse::FileDescriptorResponse(f)) => Ok(f.file_descriptor_proto),
                    Ok(MessageResponse::ErrorResponse(e)) => Err(tonic::Code::from(e.error_code)),
                    Ok(other) => panic!("not a file or an error: {other:?}"),
                    Err(status) => Err(status.code()),
                }
            }
        }
    };
}

reflection_client!(v1);
reflection_client!(v1alpha);
pub use v1 as reflection_v1;

async fn channel(host: &TestHost) -> Channel {
    Channel::from_shared(host.url())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// The next status a `Health/Watch` stream reports.
async fn next_watched(watch: &mut tonic::Streaming<HealthCheckResponse>) -> ServingStatus {
    let answer = tokio::time::timeout(Duration::from_secs(60), watch.message())
        .await
        .expect("Watch reports a change")
        .unwrap()
        .expect("the Watch stream stays open");
    ServingStatus::try_from(answer.status).unwrap()
}

async fn readyz(host: &TestHost) -> u16 {
    reqwest::get(format!("{}/readyz", host.url()))
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Lets no one into `db`, and ends every session in it (`refuse`), or lets
/// them in again: the database as the service sees it when it is down.
async fn refuse_connections(db: &TestDb, refuse: bool) {
    let (server, _) = db.owner_url.rsplit_once('/').unwrap();
    let mut conn = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS {}",
        db.name, !refuse
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    if refuse {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&db.name)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_health_follows_readiness_when_the_database_goes_away_and_comes_back() {
    let db = TestDb::new().await;
    let host = TestHost::start(db.store.clone(), HostSetup::default()).await;
    let grpc = channel(&host).await;
    let services = ["", "numbering.v1.NumberingService"];
    let mut watch = HealthClient::new(grpc.clone())
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(readyz(&host).await, 200);
    for s in services {
        assert_eq!(
            health_of(grpc.clone(), s).await.unwrap(),
            ServingStatus::Serving,
            "{s:?}"
        );
    }
    assert_eq!(next_watched(&mut watch).await, ServingStatus::Serving);

    refuse_connections(&db, true).await;
    assert_eq!(readyz(&host).await, 503);
    for s in services {
        assert_eq!(
            health_of(grpc.clone(), s).await.unwrap(),
            ServingStatus::NotServing,
            "{s:?} while the database is down"
        );
    }
    assert_eq!(next_watched(&mut watch).await, ServingStatus::NotServing);

    refuse_connections(&db, false).await;
    assert_eq!(readyz(&host).await, 200);
    for s in services {
        assert_eq!(
            health_of(grpc.clone(), s).await.unwrap(),
            ServingStatus::Serving,
            "{s:?} once the database is back"
        );
    }
    assert_eq!(next_watched(&mut watch).await, ServingStatus::Serving);

    let unknown = health_of(grpc, "billing.v1.BillingService")
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");

    // draining: NOT_SERVING, and the Watch ends rather than hold the shutdown open
    let stopping = tokio::spawn(host.stop());
    assert_eq!(next_watched(&mut watch).await, ServingStatus::NotServing);
    assert!(matches!(watch.message().await, Ok(None)), "the Watch ends");
    stopping.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_speaks_v1_and_v1alpha_and_lists_only_the_services_served() {
    let db = TestDb::new().await;
    let host = TestHost::start(db.store.clone(), HostSetup::default()).await;
    let grpc = channel(&host).await;
    let served: BTreeSet<String> = [
        "numbering.v1.NumberingService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]
    .map(String::from)
    .into();
    const NOT_FOUND: tonic::Code = tonic::Code::NotFound;

    assert_eq!(v1::services(grpc.clone()).await, served);
    assert_eq!(v1alpha::services(grpc.clone()).await, served);
    for symbol in [
        "numbering.v1.NumberingService",
        "numbering.v1.NumberingService.ValidateLease",
        "grpc.health.v1.Health",
    ] {
        let files = v1::file_of(grpc.clone(), symbol).await.unwrap();
        assert!(!files.is_empty(), "v1 describes {symbol}");
        let files = v1alpha::file_of(grpc.clone(), symbol).await.unwrap();
        assert!(!files.is_empty(), "v1alpha describes {symbol}");
    }
    for symbol in ["billing.v1.BillingService", "senderid.v1.SenderIdRegistry"] {
        assert_eq!(
            v1::file_of(grpc.clone(), symbol).await,
            Err(NOT_FOUND),
            "{symbol}"
        );
        assert_eq!(
            v1alpha::file_of(grpc.clone(), symbol).await,
            Err(NOT_FOUND),
            "{symbol}"
        );
    }
    host.stop().await;
}
