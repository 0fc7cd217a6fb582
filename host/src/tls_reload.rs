//! The mTLS listener's TLS: a rustls server configuration that is rebuilt
//! from its PEM files whenever they change, so a rotated certificate (or
//! client CA) is served without a restart.
//!
//! On Kubernetes the files come from the Secret cert-manager keeps current
//! (`infra/k8s`): the kubelet swaps a Secret volume's files in one atomic
//! rename, so the certificate and its key never disagree on disk. Elsewhere
//! a half-written rotation is possible; a set of files that does not make a
//! valid configuration (unparseable, or a key that is not the
//! certificate's) is refused and the previous one stays in use, until the
//! files change again. Each attempt counts in
//! `numbering_tls_reloads_total{outcome="ok"|"refused"}`.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use futures_util::Stream;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    },
    server::TlsStream,
};

/// The longest a client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// `NUMBERING_TLS_CERT`, `NUMBERING_TLS_KEY`, `NUMBERING_TLS_CLIENT_CA`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: PathBuf,
}

impl TlsFiles {
    fn read(&self) -> Result<[Vec<u8>; 3]> {
        let read =
            |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        Ok([read(&self.cert)?, read(&self.key)?, read(&self.client_ca)?])
    }
}

/// The server side of the mTLS listener: its current configuration.
#[derive(Clone)]
pub struct ServerTls {
    current: Arc<Current>,
}

impl ServerTls {
    /// A fixed configuration: `cert_pem` (chain, leaf first) and `key_pem`,
    /// requiring a client certificate signed by `client_ca_pem`.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> Result<Self> {
        Ok(Self {
            current: Arc::new(RwLock::new(Arc::new(server_config(
                cert_pem,
                key_pem,
                client_ca_pem,
            )?))),
        })
    }

    /// The configuration from `files`, read again every `every` and
    /// rebuilt when they changed, for as long as it is in use.
    pub fn watch(files: TlsFiles, every: Duration) -> Result<Self> {
        let loaded = files.read()?;
        let tls = Self::from_pem(&loaded[0], &loaded[1], &loaded[2])?;
        tokio::spawn(reload_loop(
            Arc::downgrade(&tls.current),
            files,
            loaded,
            every,
        ));
        Ok(tls)
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }

    /// The TLS connections accepted on `listener`, each with the
    /// configuration current at its handshake. Handshakes run concurrently;
    /// a failed or slow one is dropped without holding up the others.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> impl Stream<Item = std::io::Result<TlsStream<TcpStream>>> {
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let tcp = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = tx.closed() => return,
                };
                let Ok((tcp, _)) = tcp else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, tx) = (self.acceptor(), tx.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    {
                        let _ = tx.send(Ok(tls)).await;
                    }
                });
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|conn| (conn, rx))
        })
    }
}

type Current = RwLock<Arc<ServerConfig>>;

/// Rebuilds the configuration in `current` whenever the files change, until
/// nothing uses it any more.
async fn reload_loop(
    current: std::sync::Weak<Current>,
    files: TlsFiles,
    mut seen: [Vec<u8>; 3],
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let Some(current) = current.upgrade() else {
            return;
        };
        let Ok(now) = files.read() else {
            continue; // mid-rotation or gone for a moment: try again next time
        };
        if now == seen {
            continue;
        }
        match server_config(&now[0], &now[1], &now[2]) {
            Ok(config) => {
                *current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
                metrics::counter!("numbering_tls_reloads_total", "outcome" => "ok").increment(1);
                tracing::info!(cert = %files.cert.display(), "reloaded the mTLS certificate");
            }
            Err(e) => {
                metrics::counter!("numbering_tls_reloads_total", "outcome" => "refused")
                    .increment(1);
                tracing::warn!(error = %format!("{e:#}"), "the changed mTLS files are not a valid configuration; keeping the previous one");
            }
        }
        seen = now;
    }
}

/// A server configuration that requires a client certificate from the CA,
/// offers HTTP/2 and HTTP/1.1 (the JSON routes), and refuses a key that is
/// not the certificate's.
fn server_config(cert_pem: &[u8], key_pem: &[u8], client_ca_pem: &[u8]) -> Result<ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate file")?;
    if certs.is_empty() {
        bail!("the certificate file holds no certificate");
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).context("the key file")?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem) {
        roots
            .add(ca.context("the client CA file")?)
            .context("the client CA file")?;
    }
    if roots.is_empty() {
        bail!("the client CA file holds no certificate");
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .context("the client CA")?;
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .context("the certificate and its key")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
