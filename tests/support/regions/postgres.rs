//! The Postgres half of [`super::Regions`]: a primary in `kbl` and a hot
//! standby in `mzr`, streaming from it through replication slot `mzr`.

use std::{
    path::{Path, PathBuf},
    process::{Child, Stdio},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use numbering::embedded::{
    command, find_bin_dir, free_port, stop_supervised, supervise, unprivileged_user,
};
use sqlx::{Connection, PgConnection};

use super::{Poll, Region, log_section, still_running, stop_servers};

/// How commits wait for the standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// `synchronous_standby_names = 'mzr, kbl'`, `synchronous_commit =
    /// remote_apply`: a commit returns once the standby has applied it.
    Synchronous,
    /// No synchronous standby, `synchronous_commit = on`.
    Asynchronous,
}

/// What the standby has done with the primary's WAL.
#[derive(Debug, Clone, Copy)]
pub(super) enum Progress {
    Received,
    Replayed,
}

/// The database every node has.
const DB: &str = "numbering";

/// Generous bound on every wait: far beyond what a loaded CI machine needs.
const WAIT: Duration = Duration::from_secs(60);

pub(super) struct PgPair {
    bin: PathBuf,
    user: Option<(u32, u32)>,
    replication: Replication,
    nodes: [PgNode; 2],
}

struct PgNode {
    region: Region,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PgNode {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn log_section(&self) -> String {
        log_section(&format!("postgres {}", self.region.as_str()), &self.log())
    }

    /// Runs the postmaster under `supervise` (it stops when this process
    /// dies). Per-node settings go on the command line: the configuration
    /// files are the primary's, copied by `pg_basebackup`.
    fn spawn(&mut self, bin: &Path, user: Option<(u32, u32)>) -> Result<()> {
        let command = format!(
            "exec {:?} -D {:?} -p {} -c cluster_name={}",
            bin.join("postgres"),
            self.data(),
            self.port,
            self.region.as_str()
        );
        self.child = Some(supervise(&command, &self.log(), user)?);
        Ok(())
    }

    /// Waits until the server takes queries (a hot standby does once it is
    /// consistent), failing at once if it exits.
    async fn wait_ready(&mut self) -> Result<()> {
        let url = self.url("postgres");
        let mut poll = Poll::new(WAIT, "Postgres to accept queries");
        loop {
            still_running(&mut self.child, "postgres")?;
            let check = async {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::query("SELECT 1").execute(&mut conn).await?;
                conn.close().await.ok();
                Ok(true)
            };
            if poll.done(check.await).await? {
                return Ok(());
            }
        }
    }

    async fn connect(&self) -> Result<PgConnection> {
        PgConnection::connect(&self.url(DB))
            .await
            .with_context(|| format!("connecting to {}'s Postgres", self.region.as_str()))
    }
}

impl PgPair {
    /// Starts the primary, makes the standby from it, and waits until the
    /// standby streams (as the synchronous standby, when synchronous).
    pub(super) async fn start(dir: &Path, replication: Replication) -> Result<Self> {
        let user = unprivileged_user()?;
        let mut nodes = Vec::new();
        for region in Region::ALL {
            let dir = dir.join(region.as_str());
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            nodes.push(PgNode {
                region,
                dir,
                port: free_port()?,
                child: None,
            });
        }
        if let Some((uid, gid)) = user {
            for d in [dir, &nodes[0].dir, &nodes[1].dir] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .with_context(|| format!("chown {}", d.display()))?;
            }
        }
        let [kbl, mzr] = <[PgNode; 2]>::try_from(nodes).ok().expect("two nodes");
        let mut pair = Self {
            bin: find_bin_dir()?,
            user,
            replication,
            nodes: [kbl, mzr],
        };
        match pair.bring_up().await {
            Ok(()) => Ok(pair),
            Err(e) => Err(e.context(format!(
                "starting Postgres replication{}{}",
                pair.nodes[0].log_section(),
                pair.nodes[1].log_section()
            ))),
        }
    }

    async fn bring_up(&mut self) -> Result<()> {
        self.initdb_primary().await?;
        let (bin, user) = (self.bin.clone(), self.user);
        self.nodes[0].spawn(&bin, user)?;
        self.nodes[0].wait_ready().await?;
        let mut conn = PgConnection::connect(&self.nodes[0].url("postgres")).await?;
        // no synchronous standby yet: this commit must not wait for one
        sqlx::query("SET synchronous_commit = local")
            .execute(&mut conn)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {DB}"))
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
        self.base_backup().await?;
        self.nodes[1].spawn(&bin, user)?;
        self.nodes[1].wait_ready().await?;
        self.wait_streaming().await
    }

    async fn initdb_primary(&self) -> Result<()> {
        let data = self.nodes[0].data();
        let mut args = vec!["-D", path_str(&data)?];
        args.extend(
            "--username=postgres --auth=trust --encoding=UTF8 --locale=C --no-sync".split(' '),
        );
        self.run("initdb", &args).await?;
        let (names, commit) = match self.replication {
            Replication::Synchronous => ("mzr, kbl", "remote_apply"),
            Replication::Asynchronous => ("", "on"),
        };
        // the standby's copy of this file makes it the same as the primary,
        // as a failover manager keeps them
        let settings = format!(
            "\n# numbering regions harness\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n\
             max_connections = 100\n\
             shared_buffers = 32MB\n\
             fsync = off\n\
             wal_level = replica\n\
             max_wal_senders = 10\n\
             max_replication_slots = 10\n\
             hot_standby = on\n\
             hot_standby_feedback = on\n\
             synchronous_standby_names = '{names}'\n\
             synchronous_commit = {commit}\n"
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("reading postgresql.conf")?;
        text.push_str(&settings);
        std::fs::write(&conf, text).context("writing postgresql.conf")
    }

    /// `pg_basebackup -R` into the standby's data directory, creating the
    /// primary's replication slot `mzr`.
    async fn base_backup(&self) -> Result<()> {
        let port = self.nodes[0].port.to_string();
        let data = self.nodes[1].data();
        self.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path_str(&data)?,
                "-R",
                "-X",
                "stream",
                "-C",
                "-S",
                "mzr",
                "--checkpoint=fast",
                "--no-sync",
            ],
        )
        .await
    }

    async fn wait_streaming(&self) -> Result<()> {
        let mut primary = self.nodes[0].connect().await?;
        let wanted = match self.replication {
            Replication::Synchronous => "sync",
            Replication::Asynchronous => "async",
        };
        let mut poll = Poll::new(WAIT, format!("the standby to stream ({wanted})"));
        loop {
            let state: Result<Option<String>> = sqlx::query_scalar(
                "SELECT sync_state FROM pg_stat_replication \
                 WHERE application_name = 'mzr' AND state = 'streaming'",
            )
            .fetch_optional(&mut primary)
            .await
            .map_err(Into::into);
            if poll
                .done(state.map(|s| s.as_deref() == Some(wanted)))
                .await?
            {
                return Ok(());
            }
        }
    }

    /// Runs a Postgres program as the clusters' user, failing with its output.
    async fn run(&self, program: &str, args: &[&str]) -> Result<()> {
        let mut cmd = tokio::process::Command::from(command(&self.bin.join(program), self.user));
        cmd.args(args).stdin(Stdio::null());
        let out = cmd
            .output()
            .await
            .with_context(|| format!("running {program}"))?;
        if !out.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(())
    }

    fn node(&self, region: Region) -> &PgNode {
        &self.nodes[region.index()]
    }

    pub(super) fn url(&self, region: Region) -> String {
        self.node(region).url(DB)
    }

    pub(super) fn multi_host_url(&self, order: &[Region]) -> String {
        let hosts: Vec<String> = order
            .iter()
            .map(|r| format!("127.0.0.1:{}", self.node(*r).port))
            .collect();
        format!(
            "postgres://postgres@{}/{DB}?target_session_attrs=read-write",
            hosts.join(",")
        )
    }

    pub(super) async fn stop_immediate(&mut self, region: Region) -> Result<()> {
        let data = self.node(region).data();
        self.run(
            "pg_ctl",
            &["stop", "-D", path_str(&data)?, "-m", "immediate", "-w"],
        )
        .await
        .with_context(|| self.node(region).log_section())?;
        if let Some(child) = self.nodes[region.index()].child.take() {
            // the postmaster is gone, so its supervisor exits at once
            stop_supervised(child);
        }
        Ok(())
    }

    /// Promotes `region`'s standby, then does what the failover manager
    /// does next: clears `synchronous_standby_names`, whose standbys are
    /// gone, and waits until new sessions see the cleared setting.
    pub(super) async fn promote(&mut self, region: Region) -> Result<()> {
        let node = self.node(region);
        let mut conn = node.connect().await?;
        let promoted: bool = sqlx::query_scalar("SELECT pg_promote(true, 60)")
            .fetch_one(&mut conn)
            .await
            .with_context(|| node.log_section())?;
        if !promoted {
            bail!(
                "pg_promote did not finish within 60 s{}",
                node.log_section()
            );
        }
        sqlx::query("ALTER SYSTEM SET synchronous_standby_names = ''")
            .execute(&mut conn)
            .await?;
        sqlx::query("SELECT pg_reload_conf()")
            .execute(&mut conn)
            .await?;
        conn.close().await.ok();
        let mut poll = Poll::new(
            WAIT,
            "new sessions to see synchronous_standby_names cleared",
        );
        loop {
            let check = async {
                let mut conn = node.connect().await?;
                let names: String = sqlx::query_scalar("SHOW synchronous_standby_names")
                    .fetch_one(&mut conn)
                    .await?;
                conn.close().await.ok();
                Ok(names.is_empty())
            };
            if poll.done(check.await).await? {
                return Ok(());
            }
        }
    }

    /// Pauses (`pg_wal_replay_pause()`) or resumes `region`'s replay, and
    /// waits until `pg_get_wal_replay_pause_state()` says it is done.
    pub(super) async fn set_replay(&self, region: Region, paused: bool) -> Result<()> {
        let mut conn = self.node(region).connect().await?;
        let (call, wanted) = match paused {
            true => ("SELECT pg_wal_replay_pause()", "paused"),
            false => ("SELECT pg_wal_replay_resume()", "not paused"),
        };
        sqlx::query(call).execute(&mut conn).await?;
        let mut poll = Poll::new(WAIT, format!("replay to be {wanted}"));
        loop {
            let state: Result<String> =
                sqlx::query_scalar("SELECT pg_get_wal_replay_pause_state()")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(Into::into);
            if poll.done(state.map(|s| s == wanted)).await? {
                return Ok(());
            }
        }
    }

    /// Waits until the standby (`mzr`) has received or replayed the
    /// primary's (`kbl`) WAL up to its current position.
    pub(super) async fn wait_standby(&self, progress: Progress) -> Result<()> {
        let mut primary = self.nodes[0].connect().await?;
        let lsn: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
            .fetch_one(&mut primary)
            .await?;
        let mut standby = self.nodes[1].connect().await?;
        let (sql, what) = match progress {
            Progress::Received => (
                "SELECT coalesce(pg_last_wal_receive_lsn() >= $1::pg_lsn, false)",
                format!("the standby to receive the primary's WAL up to {lsn}"),
            ),
            Progress::Replayed => (
                "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)",
                format!("the standby to replay the primary's WAL up to {lsn}"),
            ),
        };
        let mut poll = Poll::new(WAIT, what);
        loop {
            let done: Result<bool> = sqlx::query_scalar(sql)
                .bind(&lsn)
                .fetch_one(&mut standby)
                .await
                .map_err(Into::into);
            if poll
                .done(done)
                .await
                .with_context(|| self.nodes[1].log_section())?
            {
                return Ok(());
            }
        }
    }

    /// Tells every server to stop (fast shutdown), without waiting.
    pub(super) fn begin_stop(&mut self) {
        stop_servers(self.nodes.iter_mut().map(|n| &mut n.child), false);
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        stop_servers(self.nodes.iter_mut().map(|n| &mut n.child), true);
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}
