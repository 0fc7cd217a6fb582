//! libpq's multi-host connection URLs, which sqlx does not read.
//!
//! `postgres://u:p@h1:5432,h2:5433/db?target_session_attrs=read-write`
//! names several servers; libpq tries them in order and keeps the first
//! whose role matches `target_session_attrs`. sqlx 0.8's URL parser takes
//! one host only ("invalid port number"), so [`PgHosts::parse`] splits the
//! host list off, keeps the rest of the URL (user, password, database,
//! `sslmode` and the other parameters) for every host, and gives one
//! single-host URL ([`PgHosts::urls`]) or [`PgConnectOptions`]
//! ([`PgHosts::connect_options`]) per host. [`connect_read_write`] probes
//! the hosts and returns the options of the one that is read-write
//! (`pg_is_in_recovery()` false): after a promotion it finds the new
//! primary, so callers re-run it to reconnect.
//!
//! A single-host URL parses too (a list of one), so callers need no
//! special case. Not read: the `host=` / `port=` query parameters as lists
//! (sqlx reads them as one host), and libpq's `key=value` strings.

use std::{fmt, net::Ipv6Addr, time::Duration};

use futures_util::future::join_all;
use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};

/// Port when a host names none (libpq's default).
pub const DEFAULT_PORT: u16 = 5432;

/// How long [`connect_read_write`] and its siblings wait for one host to
/// answer, unless told otherwise.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// One server of a multi-host URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgHost {
    /// As written in the URL: a name, an IPv4 address, an IPv6 address in
    /// brackets (`[::1]`), or a percent-encoded socket directory (`%2Ftmp`).
    pub host: String,
    pub port: u16,
}

impl fmt::Display for PgHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// libpq's `target_session_attrs`: which server of the list to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetSessionAttrs {
    /// The first that answers (libpq's default).
    #[default]
    Any,
    /// Not in recovery and not `default_transaction_read_only`.
    ReadWrite,
    /// Read-only: in recovery, or `default_transaction_read_only`.
    ReadOnly,
    /// Not in recovery.
    Primary,
    /// In recovery (a hot standby).
    Standby,
    /// A standby if one answers, else any.
    PreferStandby,
}

impl TargetSessionAttrs {
    pub fn parse(value: &str) -> Result<Self, PgHostsError> {
        Ok(match value {
            "any" => Self::Any,
            "read-write" => Self::ReadWrite,
            "read-only" => Self::ReadOnly,
            "primary" => Self::Primary,
            "standby" => Self::Standby,
            "prefer-standby" => Self::PreferStandby,
            other => return Err(PgHostsError::TargetSessionAttrs(other.to_owned())),
        })
    }

    /// Whether a server in this state is one to keep (`PreferStandby`
    /// keeps standbys; its fallback is [`pick`]'s).
    fn accepts(self, state: ServerState) -> bool {
        match self {
            Self::Any => true,
            Self::ReadWrite => !state.in_recovery && !state.read_only,
            Self::ReadOnly => state.in_recovery || state.read_only,
            Self::Primary => !state.in_recovery,
            Self::Standby | Self::PreferStandby => state.in_recovery,
        }
    }
}

/// Why a URL was refused, or no host was kept.
#[derive(Debug, thiserror::Error)]
pub enum PgHostsError {
    #[error("not a Postgres URL (expected postgres://user@host:port/database): {0:?}")]
    Scheme(String),
    #[error("the URL names no host (expected postgres://user@host1:port1,host2:port2/database)")]
    NoHost,
    #[error("host {0} of the URL's host list is empty (a stray comma?)")]
    EmptyHost(usize),
    #[error("invalid port {port:?} for host {host:?}: expected a number from 1 to 65535")]
    Port { host: String, port: String },
    #[error("invalid IPv6 host {0:?}: expected an address in brackets, as [::1]:5432")]
    Ipv6(String),
    #[error(
        "invalid target_session_attrs {0:?}: expected any, read-write, read-only, primary, standby or prefer-standby"
    )]
    TargetSessionAttrs(String),
    #[error("host {host}: {source}")]
    Options { host: PgHost, source: sqlx::Error },
    #[error("no {wanted} server among {}", describe(.tried))]
    NoneMatched {
        wanted: &'static str,
        tried: Vec<(PgHost, String)>,
    },
}

fn describe(tried: &[(PgHost, String)]) -> String {
    let parts: Vec<String> = tried
        .iter()
        .map(|(h, why)| format!("{h} ({why})"))
        .collect();
    parts.join(", ")
}

/// A parsed multi-host URL: the hosts, and the rest shared by all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgHosts {
    hosts: Vec<PgHost>,
    target: TargetSessionAttrs,
    /// `postgres://` or `postgresql://`, as written.
    scheme: String,
    /// `user:password@` as written (percent-encoded), or empty.
    userinfo: String,
    /// `/database` and `?query` (without `target_session_attrs`), as written.
    path: String,
    query: String,
}

impl PgHosts {
    /// Splits `url` into its hosts and the rest. Errors name what is wrong.
    pub fn parse(url: &str) -> Result<Self, PgHostsError> {
        let (scheme, rest) = ["postgres://", "postgresql://"]
            .iter()
            .find_map(|s| url.strip_prefix(s).map(|r| (*s, r)))
            .ok_or_else(|| PgHostsError::Scheme(redact(url)))?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host_list) = match authority.rfind('@') {
            Some(at) => authority.split_at(at + 1),
            None => ("", authority),
        };
        if host_list.is_empty() {
            return Err(PgHostsError::NoHost);
        }
        let hosts = host_list
            .split(',')
            .enumerate()
            .map(|(i, h)| parse_host(i + 1, h))
            .collect::<Result<Vec<_>, _>>()?;
        let tail = tail.split('#').next().unwrap_or_default();
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
        let mut target = TargetSessionAttrs::default();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("target_session_attrs", value)) => {
                    target = TargetSessionAttrs::parse(value)?;
                }
                _ => kept.push(pair),
            }
        }
        Ok(Self {
            hosts,
            target,
            scheme: scheme.to_owned(),
            userinfo: userinfo.to_owned(),
            path: path.to_owned(),
            query: kept.join("&"),
        })
    }

    pub fn hosts(&self) -> &[PgHost] {
        &self.hosts
    }

    /// The URL's `target_session_attrs` (`Any` when it has none).
    pub fn target(&self) -> TargetSessionAttrs {
        self.target
    }

    /// One single-host URL per host, in the list's order, as sqlx reads them.
    pub fn urls(&self) -> Vec<String> {
        self.hosts.iter().map(|h| self.url_for(h)).collect()
    }

    fn url_for(&self, host: &PgHost) -> String {
        let query = if self.query.is_empty() {
            String::new()
        } else {
            format!("?{}", self.query)
        };
        format!(
            "{}{}{}:{}{}{query}",
            self.scheme, self.userinfo, host.host, host.port, self.path
        )
    }

    /// sqlx's options for each host, in the list's order.
    pub fn connect_options(&self) -> Result<Vec<(PgHost, PgConnectOptions)>, PgHostsError> {
        self.hosts
            .iter()
            .map(|h| {
                let options = self
                    .url_for(h)
                    .parse::<PgConnectOptions>()
                    .map_err(|source| PgHostsError::Options {
                        host: h.clone(),
                        source,
                    })?;
                Ok((h.clone(), options))
            })
            .collect()
    }
}

fn parse_host(index: usize, text: &str) -> Result<PgHost, PgHostsError> {
    if text.is_empty() {
        return Err(PgHostsError::EmptyHost(index));
    }
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| PgHostsError::Ipv6(text.to_owned()))?;
        addr.parse::<Ipv6Addr>()
            .map_err(|_| PgHostsError::Ipv6(text.to_owned()))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| PgHostsError::Ipv6(text.to_owned()))?,
            ),
        };
        (&text[..addr.len() + 2], port)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err(PgHostsError::EmptyHost(index));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => Some(p)
            .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p != 0)
            .ok_or_else(|| PgHostsError::Port {
                host: host.to_owned(),
                port: p.to_owned(),
            })?,
    };
    Ok(PgHost {
        host: host.to_owned(),
        port,
    })
}

/// `url` without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if s < at => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// What a probe learns of a server.
#[derive(Debug, Clone, Copy)]
struct ServerState {
    in_recovery: bool,
    read_only: bool,
}

async fn probe(options: &PgConnectOptions, timeout: Duration) -> Result<ServerState, String> {
    let attempt = async {
        let mut conn = options.connect().await?;
        let (in_recovery, read_only): (bool, bool) = sqlx::query_as(
            "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await.ok();
        Ok::<_, sqlx::Error>(ServerState {
            in_recovery,
            read_only,
        })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(state)) => Ok(state),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}

/// Probes every host at once (a host that does not answer costs one
/// `timeout`, not one per host before it) and returns the options of the
/// first host, in the list's order, that `want` accepts.
pub async fn pick(
    hosts: &PgHosts,
    want: TargetSessionAttrs,
    timeout: Duration,
) -> Result<PgConnectOptions, PgHostsError> {
    let candidates = hosts.connect_options()?;
    let states = join_all(candidates.iter().map(|(_, o)| probe(o, timeout))).await;
    let first = |ok: &dyn Fn(ServerState) -> bool| {
        candidates
            .iter()
            .zip(&states)
            .find(|(_, s)| s.as_ref().is_ok_and(|s| ok(*s)))
            .map(|((_, o), _)| o.clone())
    };
    let found = first(&|s| want.accepts(s)).or_else(|| {
        (want == TargetSessionAttrs::PreferStandby)
            .then(|| first(&|_| true))
            .flatten()
    });
    found.ok_or_else(|| PgHostsError::NoneMatched {
        wanted: wanted(want),
        tried: candidates
            .into_iter()
            .zip(states)
            .map(|((h, _), s)| (h, explain(s)))
            .collect(),
    })
}

fn wanted(want: TargetSessionAttrs) -> &'static str {
    match want {
        TargetSessionAttrs::Any => "reachable",
        TargetSessionAttrs::ReadWrite => "read-write",
        TargetSessionAttrs::ReadOnly => "read-only",
        TargetSessionAttrs::Primary => "primary",
        TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby => "standby",
    }
}

fn explain(state: Result<ServerState, String>) -> String {
    match state {
        Ok(s) if s.in_recovery => "in recovery".to_owned(),
        Ok(s) if s.read_only => "default_transaction_read_only".to_owned(),
        Ok(_) => "read-write".to_owned(),
        Err(e) => e,
    }
}

/// The options of the host that is read-write now (a primary, not in
/// recovery), whatever the URL's `target_session_attrs`: where the service
/// writes. Run it again after a failover to find the new primary.
pub async fn connect_read_write(hosts: &PgHosts) -> Result<PgConnectOptions, PgHostsError> {
    pick(hosts, TargetSessionAttrs::ReadWrite, PROBE_TIMEOUT).await
}

/// The options of the first host that answers, primary or standby: for
/// reads that a standby may serve.
pub async fn connect_any(hosts: &PgHosts) -> Result<PgConnectOptions, PgHostsError> {
    pick(hosts, TargetSessionAttrs::Any, PROBE_TIMEOUT).await
}

/// The options of the first host that the URL's own `target_session_attrs`
/// accepts (for `DATABASE_REPLICA_URL`: `read-only`, `standby`, …).
pub async fn connect_as_asked(hosts: &PgHosts) -> Result<PgConnectOptions, PgHostsError> {
    pick(hosts, hosts.target(), PROBE_TIMEOUT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(h: &str, port: u16) -> PgHost {
        PgHost {
            host: h.to_owned(),
            port,
        }
    }

    #[test]
    fn a_host_list_splits_into_single_host_urls_that_keep_everything_else() {
        let hosts = PgHosts::parse(
            "postgres://app:s3cret@h1:5432,h2:5433/numbering?sslmode=require&target_session_attrs=read-write&application_name=x",
        )
        .unwrap();
        assert_eq!(hosts.hosts(), [host("h1", 5432), host("h2", 5433)]);
        assert_eq!(hosts.target(), TargetSessionAttrs::ReadWrite);
        assert_eq!(
            hosts.urls(),
            [
                "postgres://app:s3cret@h1:5432/numbering?sslmode=require&application_name=x",
                "postgres://app:s3cret@h2:5433/numbering?sslmode=require&application_name=x",
            ]
        );
        let options = hosts.connect_options().unwrap();
        assert_eq!(options[1].1.get_host(), "h2");
        assert_eq!(options[1].1.get_port(), 5433);
        assert_eq!(options[1].1.get_database(), Some("numbering"));
        assert_eq!(options[1].1.get_username(), "app");
        assert!(matches!(
            options[1].1.get_ssl_mode(),
            sqlx::postgres::PgSslMode::Require
        ));
    }

    #[test]
    fn a_host_without_a_port_gets_5432_and_a_single_host_url_is_a_list_of_one() {
        let hosts = PgHosts::parse("postgresql://u@db.example,other:6000/x").unwrap();
        assert_eq!(
            hosts.hosts(),
            [host("db.example", 5432), host("other", 6000)]
        );
        assert_eq!(hosts.target(), TargetSessionAttrs::Any);
        let one = PgHosts::parse("postgres://u@localhost/x").unwrap();
        assert_eq!(one.urls(), ["postgres://u@localhost:5432/x"]);
    }

    #[test]
    fn ipv6_hosts_are_in_brackets_and_sqlx_reads_them() {
        let hosts = PgHosts::parse("postgres://u@[::1]:5433,[fe80::1],10.0.0.1:5434/db").unwrap();
        assert_eq!(
            hosts.hosts(),
            [
                host("[::1]", 5433),
                host("[fe80::1]", 5432),
                host("10.0.0.1", 5434)
            ]
        );
        let options = hosts.connect_options().unwrap();
        assert_eq!(options[0].1.get_port(), 5433);
        assert!(options[0].1.get_host().contains("::1"));
    }

    #[test]
    fn percent_encoded_credentials_are_decoded_for_every_host() {
        let hosts = PgHosts::parse("postgres://us%40er:p%3As%2Cs@a:1,b:2/db").unwrap();
        for (_, o) in hosts.connect_options().unwrap() {
            assert_eq!(o.get_username(), "us@er");
        }
        // the password stays encoded in the URLs sqlx reads
        assert!(hosts.urls()[1].starts_with("postgres://us%40er:p%3As%2Cs@b:2/"));
    }

    #[test]
    fn a_socket_directory_host_stays_a_socket() {
        let hosts = PgHosts::parse("postgres://postgres@%2Ftmp%2Fpg:5432/db").unwrap();
        let options = hosts.connect_options().unwrap();
        assert_eq!(
            options[0]
                .1
                .get_socket()
                .map(|p| p.to_string_lossy().into_owned()),
            Some("/tmp/pg".to_owned())
        );
    }

    #[test]
    fn a_url_without_a_database_or_with_only_a_query_parses() {
        let hosts = PgHosts::parse("postgres://u@h1,h2?target_session_attrs=any").unwrap();
        assert_eq!(
            hosts.urls(),
            ["postgres://u@h1:5432", "postgres://u@h2:5432"]
        );
        let options = hosts.connect_options().unwrap();
        assert_eq!(options[0].1.get_database(), None);
        let hosts = PgHosts::parse("postgres://u@h1,h2").unwrap();
        assert_eq!(hosts.urls()[1], "postgres://u@h2:5432");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("mysql://u@h/db", "not a Postgres URL"),
            ("postgres://u:hidden@/db", "names no host"),
            (
                "postgres://u@h1,,h2/db",
                "host 2 of the URL's host list is empty",
            ),
            (
                "postgres://u@h1,/db",
                "host 2 of the URL's host list is empty",
            ),
            (
                "postgres://u@h1:54x2/db",
                "invalid port \"54x2\" for host \"h1\"",
            ),
            ("postgres://u@h1:70000/db", "invalid port \"70000\""),
            ("postgres://u@h1:0/db", "invalid port \"0\""),
            ("postgres://u@h1:/db", "invalid port \"\""),
            ("postgres://u@h1:+5432/db", "invalid port \"+5432\""),
            (
                "postgres://u@:5432/db",
                "host 1 of the URL's host list is empty",
            ),
            ("postgres://u@[::1/db", "invalid IPv6 host \"[::1\""),
            ("postgres://u@[nope]:1/db", "invalid IPv6 host"),
            ("postgres://u@[::1]x/db", "invalid IPv6 host"),
            (
                "postgres://u@h/db?target_session_attrs=writable",
                "invalid target_session_attrs \"writable\"",
            ),
        ];
        for (url, message) in cases {
            let error = PgHosts::parse(url).expect_err(url).to_string();
            assert!(error.contains(message), "{url}: {error}");
        }
    }

    #[test]
    fn a_refused_scheme_does_not_echo_the_password() {
        let error = PgHosts::parse("mysql://u:topsecret@h/db")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("topsecret"), "{error}");
        assert!(error.contains("u:***@h/db"), "{error}");
    }

    #[test]
    fn target_session_attrs_keep_the_servers_libpq_keeps() {
        let primary = ServerState {
            in_recovery: false,
            read_only: false,
        };
        let standby = ServerState {
            in_recovery: true,
            read_only: true,
        };
        let read_only_primary = ServerState {
            in_recovery: false,
            read_only: true,
        };
        use TargetSessionAttrs::*;
        assert!(ReadWrite.accepts(primary));
        assert!(!ReadWrite.accepts(standby));
        assert!(!ReadWrite.accepts(read_only_primary));
        assert!(Primary.accepts(read_only_primary));
        assert!(ReadOnly.accepts(read_only_primary) && ReadOnly.accepts(standby));
        assert!(Standby.accepts(standby) && !Standby.accepts(read_only_primary));
        assert!(Any.accepts(primary) && Any.accepts(standby));
    }

    #[tokio::test]
    async fn no_reachable_host_is_an_error_that_lists_every_host_and_why() {
        // a port nothing listens on: bind one, then close it
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let hosts = PgHosts::parse(&format!(
            "postgres://u@127.0.0.1:{port},127.0.0.1:{port}/db?sslmode=disable"
        ))
        .unwrap();
        let error = connect_read_write(&hosts).await.unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("no read-write server among 127.0.0.1:{port} (")),
            "{error}"
        );
        assert_eq!(
            error.matches(&format!("127.0.0.1:{port}")).count(),
            2,
            "{error}"
        );
    }
}
