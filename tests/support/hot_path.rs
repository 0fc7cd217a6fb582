//! Harness for the hot path: moto's DynamoDB-compatible server on a free
//! loopback port, and the `numbering` host's server running in-process.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::Child,
    time::{Duration, Instant},
};

use numbering::{
    embedded::{free_port, log_tail, stop_supervised, supervise},
    serve::{self, AppState, Extras, GrpcTls},
};
use numbering_clients::lease_cache::{self, LeaseCacheTable};
use numbering_proto::numbering::v1::numbering_service_client::NumberingServiceClient;
use numbering_store::{SnapshotReader, Store};
use numbering_validate_lease::{LeaseReader, TierConfig, Validator};
use tokio::sync::oneshot;

/// moto's server (PyPI `moto[server]`) as a DynamoDB endpoint.
pub struct TestMoto {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl TestMoto {
    pub fn start() -> Self {
        let port = free_port().unwrap();
        let dir =
            std::env::temp_dir().join(format!("numbering-moto-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut moto = Self {
            port,
            dir,
            child: None,
        };
        moto.restart();
        moto
    }

    /// Starts it (again) on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let log = self.dir.join("moto.log");
        let mut child = supervise(
            &format!("exec moto_server -H 127.0.0.1 -p {}", self.port),
            &log,
            None,
        )
        .expect("moto_server starts (./dev setup installs it)");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited ({status}): {}", log_tail(&log, 10));
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 60 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_supervised(child);
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS SDK configuration for this server (static test credentials,
    /// `us-east-1`): build S3 (path-style) and KMS clients from it.
    pub async fn sdk_config(&self) -> numbering_clients::aws::SdkConfig {
        numbering_clients::aws::sdk_config_for_endpoint(&self.endpoint()).await
    }

    /// An S3 client (path-style addressing) for this server.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A KMS client for this server.
    pub async fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&self.sdk_config().await)
    }

    /// A lease-cache table of its own (created) behind a DynamoDB tier with
    /// the hot path's short deadline.
    pub async fn tier(&self, validity: Duration) -> LeaseCacheTable {
        self.tier_with_timeout(validity, Duration::from_millis(500))
            .await
    }

    /// As [`TestMoto::tier`], with `timeout` per call.
    pub async fn tier_with_timeout(
        &self,
        validity: Duration,
        timeout: Duration,
    ) -> LeaseCacheTable {
        let client = lease_cache::client_for_endpoint(&self.endpoint(), Duration::from_secs(5));
        let table = format!("lease-cache-{}", uuid::Uuid::new_v4().simple());
        let tier = LeaseCacheTable::new(client, table, validity);
        tier.ensure_table()
            .await
            .expect("create the lease-cache table");
        // the hot path's own client: short deadlines, no retries
        LeaseCacheTable::new(
            lease_cache::client_for_endpoint(&self.endpoint(), timeout),
            tier.table().to_owned(),
            validity,
        )
    }
}

impl Drop for TestMoto {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Size of a [`TestHost`]'s read-only hot-path pool (the default of
/// `NUMBERING_HOT_PATH_DB_MAX_CONNECTIONS`).
pub const HOT_PATH_CONNECTIONS: u32 = 8;

/// The host's HTTP + gRPC server, in-process on a free port.
pub struct TestHost {
    pub addr: SocketAddr,
    pub reader: LeaseReader,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// What a [`TestHost`] runs with.
#[derive(Default)]
pub struct HostSetup {
    pub dynamo: Option<LeaseCacheTable>,
    pub tiers: TierConfig,
    pub nats: Option<async_nats::Client>,
    pub grpc_tls: Option<GrpcTls>,
}

impl TestHost {
    pub async fn start(store: Store, setup: HostSetup) -> Self {
        // the recorder first: the hot path registers its metric handles once
        let metrics = numbering::telemetry::metrics();
        let snapshots = SnapshotReader::connect_like(store.pool(), HOT_PATH_CONNECTIONS)
            .await
            .expect("the hot path's read-only pool");
        let reader = LeaseReader::new(store.clone(), snapshots, setup.dynamo, setup.tiers);
        let state = AppState {
            store,
            metrics,
            validator: Validator::new(reader.clone()),
            grpc_on_plaintext: setup.grpc_tls.is_none(),
            edge: serve::edge(
                &numbering::config::Config::from_lookup(|_| None).expect("default configuration"),
                Some("hot-path-tests"),
            )
            .expect("the REST edge"),
            events: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let extras = Extras {
            grpc_tls: setup.grpc_tls,
            nats: setup.nats,
            projection: None,
            ..Default::default()
        };
        let task = tokio::spawn(serve::run(
            state,
            listener,
            Duration::from_millis(250),
            extras,
            async move {
                let _ = stopped.await;
            },
        ));
        Self {
            addr,
            reader,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A gRPC client of `numbering.v1.NumberingService` on the shared port.
    pub async fn client(&self) -> NumberingServiceClient<tonic::transport::Channel> {
        NumberingServiceClient::connect(self.url())
            .await
            .expect("gRPC connects")
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
