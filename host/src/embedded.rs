//! A private Postgres cluster for the embedded default and the tests.
//!
//! Uses the installed Postgres binaries. `initdb` refuses to run as root, so
//! as root the cluster runs as the `postgres` user (or `nobody`). The
//! postmaster runs under a tiny `sh` supervisor whose standard input is a
//! pipe from this process: when this process exits — cleanly, by panic or by
//! SIGKILL — the pipe closes and the supervisor shuts Postgres down, so no
//! cluster outlives its owner.

use std::{
    fs,
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};

/// Tuning for the cluster's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on: the run command's data survives a crash.
    Durable,
    /// fsync off: throwaway clusters for tests.
    Throwaway,
}

pub struct EmbeddedPostgres {
    data_dir: PathBuf,
    port: u16,
    /// The directory of the cluster's Unix-domain socket, when its path fits.
    socket_dir: Option<String>,
    child: Option<Child>,
}

/// The longest socket path the kernel takes (`sun_path`, less its NUL).
const MAX_SOCKET_PATH: usize = 107;

impl EmbeddedPostgres {
    /// Starts (creating on first use) the cluster in `dir`/data on `port`
    /// (0: a free port), waiting until it accepts connections.
    pub fn start(dir: &Path, port: u16, durability: Durability) -> Result<Self> {
        let bin = find_bin_dir()?;
        let user = unprivileged_user()?;
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let data_dir = dir.join("data");
        if let Some((uid, gid)) = user {
            chown_dir(dir, uid, gid)?;
        }
        if !data_dir.join("PG_VERSION").exists() {
            init_cluster(&bin, &data_dir, user)?;
        }
        // a cluster another process runs on this data directory (`numbering
        // serve`): use it. Starting a second postmaster there would only be
        // refused by its lock file.
        if let Some(running) = Running::read(&data_dir) {
            return Self::attach(dir, data_dir, running);
        }
        let port = if port == 0 { free_port()? } else { port };
        // absolute: a relative data directory (the default) would not read
        // as a socket path in a URL
        let socket_dir = fs::canonicalize(dir)
            .ok()
            .and_then(|abs| socket_dir(&abs, port));
        let postgres = postgres_command(&bin, &data_dir, port, socket_dir.as_deref(), durability);
        let child = supervise(&postgres, &dir.join("postgres.log"), user)?;
        let mut pg = Self {
            data_dir,
            port,
            socket_dir,
            child: Some(child),
        };
        pg.wait_ready(dir)?;
        Ok(pg)
    }

    /// The cluster `running` (another process's) on `data_dir`, once it
    /// accepts connections.
    fn attach(dir: &Path, data_dir: PathBuf, running: Running) -> Result<Self> {
        let mut pg = Self {
            data_dir,
            port: running.port,
            socket_dir: running.socket_dir,
            child: None,
        };
        pg.wait_ready(dir).with_context(|| {
            format!(
                "the cluster in {} runs as process {} (another numbering process's)",
                pg.data_dir.display(),
                running.pid
            )
        })?;
        Ok(pg)
    }

    fn wait_ready(&mut self, dir: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && self.accepts_queries()
            {
                return Ok(());
            }
            if let Some(child) = &mut self.child {
                if let Some(status) = child.try_wait()? {
                    let tail = log_tail(&dir.join("postgres.log"), 8);
                    bail!("postgres exited ({status}) before accepting connections:\n{tail}");
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not accept connections within 60 s (log: {})",
                    dir.join("postgres.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The startup handshake answers once recovery is over (a TCP accept alone
    /// may still say "the database system is starting up").
    fn accepts_queries(&self) -> bool {
        let pg_isready = find_bin_dir().map(|b| b.join("pg_isready"));
        match pg_isready {
            Ok(p) if p.exists() => Command::new(p)
                .args([
                    "-q",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .status()
                .is_ok_and(|s| s.success()),
            _ => true,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this process started the cluster (and stops it), rather than
    /// using one another process runs on the same data directory.
    pub fn is_own(&self) -> bool {
        self.child.is_some()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Superuser URL of database `db`, over the Unix-domain socket when
    /// the cluster has one (see [`EmbeddedPostgres::server_url`]).
    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.server_url())
    }

    /// Superuser URL of the server, without a database name: its
    /// Unix-domain socket (the directory percent-encoded as the host, as
    /// libpq and sqlx read it) when the cluster has one, else TCP on
    /// loopback. Between two processes of one machine the socket skips the
    /// TCP stack on every round trip; BENCHMARKS.md has what that buys.
    pub fn server_url(&self) -> String {
        match &self.socket_dir {
            Some(dir) => format!("postgres://postgres@{}:{}", encode_host(dir), self.port),
            None => self.tcp_server_url(),
        }
    }

    /// Superuser URL of the server over TCP on loopback, which the cluster
    /// always listens on too.
    pub fn tcp_server_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    /// Fast shutdown, waiting for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(child) = self.child.take() {
            stop_supervised(child);
        }
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A postmaster running on a data directory, from its `postmaster.pid`
/// (pid, data directory, start time, port, first socket directory, …).
struct Running {
    pid: u32,
    port: u16,
    socket_dir: Option<String>,
}

impl Running {
    /// `None` when there is no lock file, or it is stale (its process is
    /// gone, or is no postgres: the pid was reused).
    fn read(data_dir: &Path) -> Option<Self> {
        let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let pid: u32 = lines.first()?.parse().ok()?;
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        if comm.trim() != "postgres" {
            return None;
        }
        Some(Self {
            pid,
            port: lines.get(3)?.parse().ok()?,
            socket_dir: lines
                .get(4)
                .filter(|d| !d.is_empty())
                .map(|d| (*d).to_owned()),
        })
    }
}

/// Runs `shell_command` (which must `exec` the server) under a `sh`
/// supervisor that interrupts it (SIGINT: a clean, fast shutdown) as soon as
/// our end of its standard input closes — on `stop_supervised`, or when this
/// process dies for any reason. The supervisor exits when the server does,
/// so a server that fails to start is noticed at once (`try_wait`), not
/// at the end of a readiness deadline.
pub fn supervise(shell_command: &str, log: &Path, user: Option<(u32, u32)>) -> Result<Child> {
    // the watcher of our pipe runs in the background on fd 3 (a background
    // job's stdin is /dev/null), while the shell waits for the server; a
    // TERM interrupts that wait, so it is waited for again
    let script = format!(
        "exec 3<&0; ({shell_command}) >>{log:?} 2>&1 </dev/null 3<&- & pid=$!; \
         trap 'kill -INT $pid' TERM; (read -r _ <&3; kill -INT $pid 2>/dev/null) & \
         wait $pid; s=$?; if kill -0 $pid 2>/dev/null; then wait $pid; s=$?; fi; exit $s"
    );
    command(Path::new("/bin/sh"), user)
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {shell_command}"))
}

/// Closes the supervisor's stdin and waits (30 s at most) for the server to stop.
pub fn stop_supervised(mut child: Child) {
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
}

/// The last `lines` lines of a log file, for error messages.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    let mut tail: Vec<&str> = log.lines().rev().take(lines).collect();
    tail.reverse();
    tail.join("\n")
}

/// Creates a new cluster in `data_dir` (removing what an interrupted
/// `initdb` left there).
fn init_cluster(bin: &Path, data_dir: &Path, user: Option<(u32, u32)>) -> Result<()> {
    let _ = fs::remove_dir_all(data_dir);
    let out = command(&bin.join("initdb"), user)
        .args(["-D"])
        .arg(data_dir)
        .args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdin(Stdio::null())
        .output()
        .context("running initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The shell command that runs the postmaster with its settings.
fn postgres_command(
    bin: &Path,
    data_dir: &Path,
    port: u16,
    socket_dir: Option<&str>,
    durability: Durability,
) -> String {
    let mut settings = vec![
        "listen_addresses=127.0.0.1".to_owned(),
        // Postgres refuses to start when no socket can be made, so a
        // directory too deep for one leaves the cluster on TCP only
        format!("unix_socket_directories={}", socket_dir.unwrap_or("")),
        "max_connections=300".to_owned(),
        "shared_buffers=128MB".to_owned(),
    ];
    if durability == Durability::Throwaway {
        settings.extend(
            [
                "fsync=off",
                "synchronous_commit=off",
                "full_page_writes=off",
            ]
            .map(String::from),
        );
    }
    let mut postgres = format!(
        "exec {:?} -D {:?} -p {port}",
        bin.join("postgres"),
        data_dir
    );
    for s in &settings {
        postgres.push_str(&format!(" -c {s:?}"));
    }
    postgres
}

/// `program` as a command, run as `user` (uid, gid) when given, with a HOME
/// that user can use.
pub fn command(program: &Path, user: Option<(u32, u32)>) -> Command {
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
        cmd.env("HOME", "/tmp");
    }
    cmd
}

/// The directory holding initdb/postgres: on PATH, or Debian's layout.
pub fn find_bin_dir() -> Result<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(dir) = std::env::var("NUMBERING_PG_BIN") {
        candidates.push(dir.into());
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev());
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .context("no Postgres server binaries found (install Debian's postgresql package, or set NUMBERING_PG_BIN)")
}

/// As root: the uid/gid to run Postgres as. Otherwise `None` (run as ourselves).
pub fn unprivileged_user() -> Result<Option<(u32, u32)>> {
    let me = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if me != 0 {
        return Ok(None);
    }
    let passwd = fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
    for wanted in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 3 && f[0] == wanted {
                if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                    return Ok(Some((uid, gid)));
                }
            }
        }
    }
    bail!("running as root and found neither a postgres nor a nobody user to run Postgres as")
}

fn chown_dir(dir: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::chown(dir, Some(uid), Some(gid))
        .with_context(|| format!("chown {}", dir.display()))?;
    Ok(())
}

/// `dir` as the cluster's socket directory, if it is valid UTF-8 (to go in
/// a URL) and short enough for the socket's path.
fn socket_dir(dir: &Path, port: u16) -> Option<String> {
    let dir = dir.to_str()?;
    let path_len = dir.len() + format!("/.s.PGSQL.{port}").len();
    // the setting is a list: a comma or a quote would split or quote it
    (path_len <= MAX_SOCKET_PATH && !dir.contains([',', '"'])).then(|| dir.to_owned())
}

/// A socket directory as a URL's host: every byte but unreserved ones
/// percent-encoded, so the leading `/` marks it as a path.
fn encode_host(dir: &str) -> String {
    let mut host = String::with_capacity(dir.len() * 3);
    for b in dir.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            host.push(char::from(b));
        } else {
            host.push_str(&format!("%{b:02X}"));
        }
    }
    host
}

/// A currently free loopback port.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_directory_becomes_a_percent_encoded_host() {
        assert_eq!(
            encode_host("/tmp/numbering tests-1/pg"),
            "%2Ftmp%2Fnumbering%20tests-1%2Fpg"
        );
        let options: sqlx::postgres::PgConnectOptions =
            format!("postgres://postgres@{}:5432/db", encode_host("/tmp/x y"))
                .parse()
                .unwrap();
        assert_eq!(
            options.get_socket().map(PathBuf::as_path),
            Some(Path::new("/tmp/x y"))
        );
    }

    /// Waits (at most a minute: far beyond need) for `child` to exit.
    fn exit_of(child: &mut Child) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the supervisor is still running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A server that fails to start is noticed at once: the supervisor
    /// exits with it (it used to wait for its stdin to close, so a refused
    /// start looked like a slow one until the readiness deadline).
    #[test]
    fn the_supervisor_exits_with_its_server_and_stops_it_when_our_pipe_closes() {
        let dir = std::env::temp_dir().join(format!("supervise-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut failed = supervise("exec sh -c 'exit 3'", &dir.join("log"), None).unwrap();
        assert_eq!(exit_of(&mut failed).code(), Some(3));
        assert!(failed.stdin.is_some(), "our end of the pipe is still open");

        // a server that handles SIGINT, as Postgres and nats-server do (a
        // background job of a non-interactive shell starts with it ignored)
        let server = "exec python3 -c 'import signal, time; \
                      signal.signal(signal.SIGINT, lambda *_: exit(7)); \
                      print(\"ready\", flush=True); time.sleep(600)'";
        let log = dir.join("server.log");
        let mut running = supervise(server, &log, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("ready")
        {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(running.try_wait().unwrap().is_none());
        drop(running.stdin.take());
        assert_eq!(exit_of(&mut running).code(), Some(7), "stopped by SIGINT");
        fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_directory_too_deep_or_listy_for_a_socket_is_left_to_tcp() {
        assert_eq!(
            socket_dir(Path::new("/tmp/pg"), 5432).as_deref(),
            Some("/tmp/pg")
        );
        // 96 + "/.s.PGSQL.5432" (14) = 110 bytes: over the limit
        let deep = format!("/{}", "d".repeat(95));
        assert_eq!(socket_dir(Path::new(&deep), 5432), None);
        let fits = format!("/{}", "d".repeat(92));
        assert!(socket_dir(Path::new(&fits), 5432).is_some());
        assert_eq!(socket_dir(Path::new("/tmp/a,b"), 5432), None);
    }
}
