//! The standard gRPC services beside `numbering.v1.NumberingService`:
//! `grpc.health.v1.Health`, which follows readiness (the check behind
//! `/readyz`), and server reflection in both protocols (`v1` and the older
//! `v1alpha` that many grpcurl, grpc_cli and Postman versions still speak),
//! listing exactly the services of the listener it is on.
//!
//! Once the host starts draining (SIGTERM), health answers NOT_SERVING and
//! ends its `Watch` streams, so that balancers move away and the streams do
//! not hold the graceful shutdown open.

use std::{pin::Pin, sync::Arc, time::Duration};

use futures_util::{Stream, StreamExt, stream};

use numbering_proto::numbering::v1::numbering_service_server::NumberingServiceServer;
use numbering_store::Store;
use numbering_validate_lease::HotPath;
use tokio::sync::watch;
use tonic::{Request, Response, Status, server::NamedService, service::Routes};
use tonic_health::pb::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
    health_server::HealthServer,
};

use crate::runtime::migrations_applied;

/// How long the readiness check may take before it counts as failed.
const READINESS_DEADLINE: Duration = Duration::from_secs(2);

/// How often a `Health/Watch` stream re-checks readiness.
const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Why the service is not ready to take traffic.
#[derive(Debug)]
pub enum NotReady {
    /// `DATABASE_URL` reaches no read-write primary (only servers in
    /// recovery, or none): writes would fail, singletons do not run.
    NotPrimary,
    Migrations,
    Unreachable(anyhow::Error),
    TimedOut,
}

impl NotReady {
    pub fn detail(&self) -> &'static str {
        match self {
            Self::NotPrimary => "no read-write primary: the database is in recovery or unreachable",
            Self::Migrations => "database migrations are not fully applied",
            Self::Unreachable(_) => "database unreachable",
            Self::TimedOut => "database did not answer within 2 s",
        }
    }
}

/// Ready: connected to a read-write primary (when the pool's primary is
/// watched), the database answers within [`READINESS_DEADLINE`] and every
/// migration is applied. `/readyz` and gRPC health both answer from this.
pub async fn readiness(store: &Store) -> Result<(), NotReady> {
    if store.primary().is_some_and(|p| !p.is_read_write()) {
        return Err(NotReady::NotPrimary);
    }
    match tokio::time::timeout(READINESS_DEADLINE, migrations_applied(store.pool())).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(NotReady::Migrations),
        Ok(Err(e)) => Err(NotReady::Unreachable(e)),
        Err(_) => Err(NotReady::TimedOut),
    }
}

/// Adds health, reflection v1 and reflection v1alpha to `routes`, which
/// serve `numbering.v1.NumberingService` when `numbering_served`; health
/// turns NOT_SERVING once `draining` is true.
pub fn with_standard_services(
    routes: Routes,
    store: Store,
    numbering_served: bool,
    draining: watch::Receiver<bool>,
) -> Routes {
    let numbering = NumberingServiceServer::<HotPath>::NAME;
    let health = HealthServer::<Health>::NAME;
    let v1 = tonic_reflection::server::v1::ServerReflectionServer::<
        tonic_reflection::server::v1::ReflectionService,
    >::NAME;
    let v1alpha = tonic_reflection::server::v1alpha::ServerReflectionServer::<
        tonic_reflection::server::v1alpha::ReflectionService,
    >::NAME;
    let mut served = vec![health, v1, v1alpha];
    if numbering_served {
        served.insert(0, numbering);
    }
    let builder = || {
        let mut b = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            );
        if numbering_served {
            b = b.register_encoded_file_descriptor_set(
                numbering_proto::NUMBERING_FILE_DESCRIPTOR_SET,
            );
        }
        served.iter().fold(b, |b, s| b.with_service_name(*s))
    };
    let known = if numbering_served {
        vec!["", numbering]
    } else {
        vec![""]
    };
    routes
        .add_service(HealthServer::new(Health {
            store,
            known: known.into(),
            draining,
        }))
        .add_service(
            builder()
                .build_v1()
                .expect("the embedded descriptor sets are valid"),
        )
        .add_service(
            builder()
                .build_v1alpha()
                .expect("the embedded descriptor sets are valid"),
        )
}

/// `grpc.health.v1.Health` over [`readiness`]: the server as a whole (`""`)
/// and each served service are SERVING exactly when the service is ready.
#[derive(Clone)]
pub struct Health {
    store: Store,
    known: Arc<[&'static str]>,
    draining: watch::Receiver<bool>,
}

impl Health {
    async fn status(&self) -> ServingStatus {
        if *self.draining.borrow() {
            return ServingStatus::NotServing;
        }
        match readiness(&self.store).await {
            Ok(()) => ServingStatus::Serving,
            Err(_) => ServingStatus::NotServing,
        }
    }

    fn knows(&self, service: &str) -> bool {
        self.known.contains(&service)
    }

    /// Resolves once the host drains (never, when nothing can make it).
    async fn drained(mut draining: watch::Receiver<bool>) {
        if draining.wait_for(|d| *d).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn answer(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if !self.knows(&request.get_ref().service) {
            return Err(Status::not_found("this server does not serve that service"));
        }
        Ok(Response::new(answer(self.status().await)))
    }

    type WatchStream = WatchStream;

    /// The status at once, then each change (re-checked every
    /// [`WATCH_EVERY`]) until the host drains; an unknown service is
    /// SERVICE_UNKNOWN, and the call stays open, as the health protocol asks.
    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        if !self.knows(&request.get_ref().service) {
            let unknown = stream::once(async { Ok(answer(ServingStatus::ServiceUnknown)) });
            let until_drained =
                stream::once(Self::drained(self.draining.clone())).filter_map(|()| async { None });
            return Ok(Response::new(Box::pin(unknown.chain(until_drained))));
        }
        let changes = stream::unfold(
            (self.clone(), None::<ServingStatus>),
            |(health, last)| async move {
                loop {
                    if last == Some(ServingStatus::NotServing) && *health.draining.borrow() {
                        return None;
                    }
                    if last.is_some() {
                        tokio::select! {
                            _ = tokio::time::sleep(WATCH_EVERY) => {}
                            _ = Self::drained(health.draining.clone()) => {}
                        }
                    }
                    let now = health.status().await;
                    if last != Some(now) {
                        return Some((Ok(answer(now)), (health, Some(now))));
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(changes)))
    }
}
