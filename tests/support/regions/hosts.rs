//! Two real `numbering serve` processes, `kbl` and `mzr`, on top of
//! [`super::Regions`], each configured only through the contract's
//! environment variables, as production configures them:
//!
//! | variable | kbl | mzr |
//! |---|---|---|
//! | `NUMBERING_REGION` | `kbl` | `mzr` |
//! | `DATABASE_URL` | the primary | the primary (the write crosses regions) |
//! | `DATABASE_REPLICA_URL` | *(unset: the primary is local)* | the standby |
//! | `NATS_URL` | kbl's nats-server | mzr's nats-server |
//!
//! plus a listen port, a data directory, the JWT secret of
//! [`crate::app`] (so `app::tenant_token` works at both) and JSON logs to
//! `<dir>/<region>/numbering.log`. `numbering migrate` runs first, against
//! the primary. [`HostsBuilder::multi_host`] gives `DATABASE_URL` in
//! libpq's multi-host form (both servers, `target_session_attrs=read-write`)
//! instead of the primary's own URL, for failover drills.
//!
//! ```ignore
//! let regions = Regions::builder().start().await;
//! let mut hosts = regions.hosts().start().await;
//! let kbl = hosts.url(Region::Kbl);     // REST and gRPC, one port
//! hosts.stop(Region::Mzr);              // SIGINT, waits for the exit
//! hosts.start(Region::Mzr).await;       // same port and environment, waits for /readyz
//! ```

use std::{
    path::{Path, PathBuf},
    process::Child,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use numbering::embedded::{free_port, stop_supervised, supervise};

use super::{Poll, Region, Regions, log_section, still_running};

/// Beyond a loaded machine's start of `numbering serve`.
const WAIT: Duration = Duration::from_secs(120);

/// What [`Hosts`] start with; from [`Regions::hosts`].
pub struct HostsBuilder<'a> {
    regions: &'a Regions,
    env: Vec<(Option<Region>, String, String)>,
    demo_data: bool,
    replica_reads: bool,
    multi_host: bool,
    bin: Option<PathBuf>,
}

impl Regions {
    /// Two `numbering serve` hosts on these regions (see [`HostsBuilder`]).
    pub fn hosts(&self) -> HostsBuilder<'_> {
        HostsBuilder {
            regions: self,
            env: Vec::new(),
            demo_data: false,
            replica_reads: true,
            multi_host: false,
            bin: None,
        }
    }
}

impl HostsBuilder<'_> {
    /// One more variable for both hosts (overrides the defaults above).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((None, key.to_owned(), value.to_owned()));
        self
    }

    /// One more variable for `region`'s host only.
    pub fn env_for(mut self, region: Region, key: &str, value: &str) -> Self {
        self.env
            .push((Some(region), key.to_owned(), value.to_owned()));
        self
    }

    /// Seed the demo tenants and inventory (kbl does, once).
    pub fn demo_data(mut self) -> Self {
        self.demo_data = true;
        self
    }

    /// No `DATABASE_REPLICA_URL`: mzr reads the primary too.
    pub fn without_replica_reads(mut self) -> Self {
        self.replica_reads = false;
        self
    }

    /// `DATABASE_URL` lists both servers (`target_session_attrs=read-write`).
    pub fn multi_host(mut self) -> Self {
        self.multi_host = true;
        self
    }

    /// The `numbering` binary (default: the one built beside this executable).
    pub fn binary(mut self, bin: PathBuf) -> Self {
        self.bin = Some(bin);
        self
    }

    /// Migrates the primary, starts both hosts and waits until both are ready.
    pub async fn start(self) -> Hosts {
        match self.try_start().await {
            Ok(hosts) => hosts,
            Err(e) => panic!("starting the kbl and mzr hosts: {e:?}"),
        }
    }

    async fn try_start(self) -> Result<Hosts> {
        let bin = match self.bin.clone() {
            Some(bin) => bin,
            None => numbering_binary()?,
        };
        let dir = self.regions.dir().join("hosts");
        migrate(&bin, &self.regions.primary_url(), &dir).await?;
        let mut hosts = Hosts {
            bin,
            http: reqwest::Client::new(),
            nodes: [self.node(Region::Kbl, &dir)?, self.node(Region::Mzr, &dir)?],
        };
        for node in &mut hosts.nodes {
            node.spawn(&hosts.bin)?;
        }
        for region in Region::ALL {
            hosts.wait_ready(region).await?;
        }
        Ok(hosts)
    }

    fn node(&self, region: Region, dir: &Path) -> Result<HostNode> {
        let dir = dir.join(region.as_str());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let database_url = match self.multi_host {
            true => self.regions.multi_host_url(),
            false => self.regions.primary_url(),
        };
        let app = |v: &str| v.to_owned();
        let mut env = vec![
            ("NUMBERING_REGION", app(region.as_str())),
            ("DATABASE_URL", database_url),
            ("NATS_URL", self.regions.nats_url(region)),
            ("NUMBERING_LISTEN", format!("127.0.0.1:{port}")),
            ("NUMBERING_DATA_DIR", dir.join("data").display().to_string()),
            ("NUMBERING_JWT_HS256_SECRET", app(crate::app::SECRET)),
            ("NUMBERING_JWT_ISSUER", app(crate::app::ISSUER)),
            ("NUMBERING_JWT_AUDIENCE", app(crate::app::AUDIENCE)),
            (
                "NUMBERING_DEMO_DATA",
                app(if self.demo_data && region == Region::Kbl {
                    "true"
                } else {
                    "false"
                }),
            ),
            ("NUMBERING_LOG_FORMAT", app("json")),
            ("RUST_LOG", app("info,sqlx=warn")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<Vec<_>>();
        if self.replica_reads && region == Region::Mzr {
            env.push(("DATABASE_REPLICA_URL".into(), self.regions.standby_url()));
        }
        for (only, k, v) in &self.env {
            if only.is_none_or(|r| r == region) {
                env.retain(|(key, _)| key != k);
                env.push((k.clone(), v.clone()));
            }
        }
        Ok(HostNode {
            dir,
            port,
            env,
            child: None,
        })
    }
}

/// The two running hosts; both stop (SIGINT) when dropped.
pub struct Hosts {
    bin: PathBuf,
    http: reqwest::Client,
    nodes: [HostNode; 2],
}

struct HostNode {
    dir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl HostNode {
    fn log(&self) -> PathBuf {
        self.dir.join("numbering.log")
    }

    fn spawn(&mut self, bin: &Path) -> Result<()> {
        // an empty environment but for PATH: only what the table above sets
        let mut command = format!(
            "exec env -i PATH={}",
            shell_quote(&std::env::var("PATH").unwrap_or_default())
        );
        for (k, v) in &self.env {
            command.push_str(&format!(" {k}={}", shell_quote(v)));
        }
        command.push_str(&format!(
            " {} serve",
            shell_quote(&bin.display().to_string())
        ));
        self.child = Some(supervise(&command, &self.log(), None)?);
        Ok(())
    }
}

impl Hosts {
    fn node(&self, region: Region) -> &HostNode {
        &self.nodes[region as usize]
    }

    fn node_mut(&mut self, region: Region) -> &mut HostNode {
        &mut self.nodes[region as usize]
    }

    /// `http://127.0.0.1:<port>` of `region`'s host: REST, `/readyz`,
    /// `/metrics` and gRPC (plaintext HTTP/2) on the one port.
    pub fn url(&self, region: Region) -> String {
        format!("http://127.0.0.1:{}", self.node(region).port)
    }

    /// The gRPC endpoint: the same port as [`Hosts::url`].
    pub fn grpc_url(&self, region: Region) -> String {
        self.url(region)
    }

    /// The environment `region`'s host runs with.
    pub fn env(&self, region: Region) -> &[(String, String)] {
        &self.node(region).env
    }

    /// `region`'s host's log (JSON lines).
    pub fn log(&self, region: Region) -> PathBuf {
        self.node(region).log()
    }

    /// Whether `region`'s host is running.
    pub fn is_running(&mut self, region: Region) -> bool {
        still_running(&mut self.node_mut(region).child, "numbering serve").is_ok()
            && self.node(region).child.is_some()
    }

    /// Stops `region`'s host (SIGINT: a graceful shutdown) and waits for it.
    pub fn stop(&mut self, region: Region) {
        if let Some(child) = self.node_mut(region).child.take() {
            stop_supervised(child);
        }
    }

    /// Starts `region`'s host again (same port, environment and data
    /// directory) and waits until it is ready.
    pub async fn start(&mut self, region: Region) {
        self.stop(region);
        let bin = self.bin.clone();
        let started = async {
            self.node_mut(region).spawn(&bin)?;
            self.wait_ready(region).await
        };
        if let Err(e) = started.await {
            panic!("restarting the {} host: {e:?}", region.as_str())
        }
    }

    /// [`Hosts::stop`], then [`Hosts::start`].
    pub async fn restart(&mut self, region: Region) {
        self.start(region).await
    }

    /// Waits until `/readyz` answers 200 (failing at once if the host exits).
    async fn wait_ready(&mut self, region: Region) -> Result<()> {
        let url = format!("{}/readyz", self.url(region));
        let mut poll = Poll::new(WAIT, format!("{url} to answer 200"));
        loop {
            let node = self.node_mut(region);
            if let Err(e) = still_running(&mut node.child, "numbering serve") {
                bail!("{e}{}", log_section(region.as_str(), &node.log()));
            }
            let ready = match self.http.get(&url).send().await {
                Ok(r) => Ok(r.status().is_success()),
                Err(e) => Err(anyhow::Error::new(e)),
            };
            let node = self.node(region);
            match poll.done(ready).await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => bail!("{e}{}", log_section(region.as_str(), &node.log())),
            }
        }
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // both told at once, then waited for
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                drop(child.stdin.take());
            }
        }
        for node in &mut self.nodes {
            if let Some(child) = node.child.take() {
                stop_supervised(child);
            }
        }
    }
}

/// `numbering migrate` against the primary.
async fn migrate(bin: &Path, primary: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let out = tokio::process::Command::new(bin)
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", primary)
        .env("NUMBERING_DATA_DIR", dir.join("migrate"))
        .output()
        .await
        .context("running numbering migrate")?;
    if !out.status.success() {
        bail!(
            "numbering migrate failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// The `numbering` binary beside this executable: `target/<profile>/` for
/// a binary, `target/<profile>/deps/` → `target/<profile>/` for a test.
fn numbering_binary() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("this executable's path")?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("numbering"))
        .find(|bin| bin.is_file())
        .with_context(|| {
            format!(
                "no numbering binary beside {}: `cargo build -p numbering --bin numbering`",
                exe.display()
            )
        })
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
