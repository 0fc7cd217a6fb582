//! The NATS half of [`super::Regions`]: one nats-server with JetStream per
//! region, each its own one-server cluster, joined by gateways (the module
//! docs of [`super`] say what that topology allows).

use std::{
    path::{Path, PathBuf},
    process::Child,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use numbering::{
    embedded::{free_port, stop_supervised, supervise},
    nats::find_nats_server,
};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::{Poll, Region, log_section, still_running, stop_servers};

/// Beyond the first JetStream election (4 to 9 s) on a loaded machine.
const WAIT: Duration = Duration::from_secs(90);

pub(super) struct NatsPair {
    bin: PathBuf,
    http: reqwest::Client,
    nodes: [NatsNode; 2],
}

struct NatsNode {
    region: Region,
    dir: PathBuf,
    client: u16,
    cluster: u16,
    gateway: u16,
    monitor: u16,
    child: Option<Child>,
}

impl NatsNode {
    fn new(region: Region, dir: &Path) -> Result<Self> {
        let dir = dir.join(region.as_str());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self {
            region,
            dir,
            client: free_port()?,
            cluster: free_port()?,
            gateway: free_port()?,
            monitor: free_port()?,
            child: None,
        })
    }

    fn log(&self) -> PathBuf {
        self.dir.join("nats-server.log")
    }

    fn log_section(&self) -> String {
        log_section(
            &format!("nats-server {}", self.region.as_str()),
            &self.log(),
        )
    }

    /// The server's configuration. The cluster lists its own route: 2.9
    /// refuses clustered JetStream without configured routes, and a server
    /// drops a route to itself.
    fn config(&self, other: &NatsNode) -> String {
        let (name, other_name) = (self.region.as_str(), other.region.as_str());
        let (cluster, gateway) = (self.cluster, self.gateway);
        let store = self.dir.join("jetstream");
        [
            format!("server_name: {name}-1"),
            format!("listen: 127.0.0.1:{}", self.client),
            format!("http: 127.0.0.1:{}", self.monitor),
            format!("jetstream {{ store_dir: {store:?} }}"),
            format!("cluster {{ name: {name}, listen: 127.0.0.1:{cluster}"),
            format!("  routes: [\"nats://127.0.0.1:{cluster}\"] }}"),
            format!("gateway {{ name: {name}, listen: 127.0.0.1:{gateway}"),
            format!(
                "  gateways: [{{ name: {other_name}, urls: [\"nats://127.0.0.1:{}\"] }}] }}",
                other.gateway
            ),
        ]
        .join("\n")
    }

    fn spawn(&mut self, bin: &Path) -> Result<()> {
        let conf = self.dir.join("nats-server.conf");
        let command = format!("exec {bin:?} -c {conf:?}");
        self.child = Some(supervise(&command, &self.log(), None)?);
        Ok(())
    }

    /// Waits until the server greets clients (`INFO`), failing at once if it exits.
    async fn wait_clients(&mut self) -> Result<()> {
        let port = self.client;
        let mut poll = Poll::new(WAIT, "nats-server to accept clients");
        loop {
            still_running(&mut self.child, "nats-server")?;
            let check = async {
                let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let mut greeting = [0u8; 4];
                s.read_exact(&mut greeting).await?;
                Ok(&greeting == b"INFO")
            };
            if poll.done(check.await).await? {
                return Ok(());
            }
        }
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

impl NatsPair {
    /// Starts the pair; a port another process took between its choice and
    /// the server's bind (tests run in parallel) is retried on new ports.
    pub(super) async fn start(dir: &Path) -> Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::start_once(dir).await {
                Err(e) if attempt < 3 && format!("{e:#}").contains("address already in use") => {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(dir: &Path) -> Result<Self> {
        let kbl = NatsNode::new(Region::Kbl, dir)?;
        let mzr = NatsNode::new(Region::Mzr, dir)?;
        for (me, other) in [(&kbl, &mzr), (&mzr, &kbl)] {
            std::fs::write(me.dir.join("nats-server.conf"), me.config(other))
                .context("writing nats-server.conf")?;
        }
        let mut pair = Self {
            bin: find_nats_server()?,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            nodes: [kbl, mzr],
        };
        let up = async {
            for region in Region::ALL {
                let bin = pair.bin.clone();
                pair.nodes[region.index()].spawn(&bin)?;
            }
            for node in &mut pair.nodes {
                node.wait_clients().await?;
            }
            pair.wait_joined().await
        };
        match up.await {
            Ok(()) => Ok(pair),
            Err(e) => Err(e.context(format!("starting NATS{}", pair.logs()))),
        }
    }

    fn logs(&self) -> String {
        self.nodes.iter().map(NatsNode::log_section).collect()
    }

    pub(super) fn url(&self, region: Region) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[region.index()].client)
    }

    /// Waits until both servers have their gateway to the other, out and
    /// in, and report JetStream healthy (a meta leader is known).
    async fn wait_joined(&self) -> Result<()> {
        for node in &self.nodes {
            let other = node.region.other().as_str();
            let what = format!("{}'s gateways to {other}", node.region.as_str());
            self.wait_monitor(node, "gatewayz", &what, |g| {
                g["outbound_gateways"].get(other).is_some()
                    && g["inbound_gateways"].get(other).is_some()
            })
            .await?;
        }
        for node in &self.nodes {
            let what = format!("{}'s JetStream to have a meta leader", node.region.as_str());
            self.wait_monitor(node, "healthz", &what, |h| h["status"] == "ok")
                .await?;
        }
        Ok(())
    }

    /// Polls `node`'s monitoring endpoint `path` until `ready` holds for it.
    async fn wait_monitor(
        &self,
        node: &NatsNode,
        path: &str,
        what: &str,
        ready: impl Fn(&Value) -> bool,
    ) -> Result<()> {
        let url = format!("http://127.0.0.1:{}/{path}", node.monitor);
        let mut poll = Poll::new(WAIT, what);
        loop {
            let check = async {
                let body: Value = self.http.get(&url).send().await?.json().await?;
                Ok(ready(&body))
            };
            if poll.done(check.await).await? {
                return Ok(());
            }
        }
    }

    /// Stops `region`'s server cleanly (SIGINT), waiting for it to exit.
    pub(super) fn stop(&mut self, region: Region) {
        if let Some(child) = self.nodes[region.index()].child.take() {
            stop_supervised(child);
        }
    }

    pub(super) async fn start_again(&mut self, region: Region) -> Result<()> {
        let bin = self.bin.clone();
        let node = &mut self.nodes[region.index()];
        if node.is_running() {
            bail!("{}'s nats-server is running already", region.as_str());
        }
        let started = async {
            node.spawn(&bin)?;
            node.wait_clients().await
        };
        started.await.with_context(|| self.logs())?;
        if self.nodes[region.other().index()].is_running() {
            self.wait_joined().await.with_context(|| self.logs())?;
        }
        Ok(())
    }

    /// Tells every server to stop, without waiting.
    pub(super) fn begin_stop(&mut self) {
        stop_servers(self.nodes.iter_mut().map(|n| &mut n.child), false);
    }
}

impl Drop for NatsPair {
    fn drop(&mut self) {
        stop_servers(self.nodes.iter_mut().map(|n| &mut n.child), true);
    }
}
