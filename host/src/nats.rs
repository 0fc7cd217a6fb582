//! A private NATS server with JetStream, for the embedded default and the
//! tests (Debian's `nats-server`). Stops with its owner, like
//! [`crate::embedded::EmbeddedPostgres`].

use std::{
    io::Read,
    net::TcpStream,
    path::{Path, PathBuf},
    process::Child,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

use crate::embedded::{free_port, log_tail, stop_supervised, supervise};

pub struct EmbeddedNats {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl EmbeddedNats {
    /// Starts `nats-server -js` on `port` (0: a free one) keeping its
    /// JetStream store under `dir`, and waits until it accepts clients.
    pub fn start(dir: &Path, port: u16) -> Result<Self> {
        let bin = find_nats_server()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = if port == 0 { free_port()? } else { port };
        let mut nats = Self {
            dir: dir.to_owned(),
            port,
            child: None,
        };
        nats.restart_with(&bin)?;
        Ok(nats)
    }

    /// Starts it again after [`EmbeddedNats::stop`], on the same port and store.
    pub fn restart(&mut self) -> Result<()> {
        let bin = find_nats_server()?;
        self.restart_with(&bin)
    }

    fn restart_with(&mut self, bin: &Path) -> Result<()> {
        self.stop();
        let cmd = format!(
            "exec {bin:?} -js -a 127.0.0.1 -p {port} -sd {store:?} --http_port 0",
            port = self.port,
            store = self.dir.join("jetstream"),
        );
        let log = self.dir.join("nats-server.log");
        let mut child = supervise(&cmd, &log, None)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if accepts_clients(self.port) {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!("nats-server exited ({status}):\n{}", log_tail(&log, 8));
            }
            if Instant::now() > deadline {
                bail!(
                    "nats-server did not accept clients within 30 s (log: {})",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Stops the server (the JetStream store stays on disk).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_supervised(child);
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for EmbeddedNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A NATS server greets every new connection with an `INFO` line.
fn accepts_clients(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"INFO"
}

/// `nats-server` on PATH (Debian's package installs /usr/bin/nats-server).
pub fn find_nats_server() -> Result<PathBuf> {
    if let Ok(p) = std::env::var("NUMBERING_NATS_SERVER") {
        return Ok(p.into());
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
        .context("nats-server not found (install Debian's nats-server package: ./dev setup does)")
}
