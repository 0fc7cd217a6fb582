//! Brings up what `serve` and the CLI stand on: the database (configured or
//! embedded), migrations, demo data and the development signing secret.

use std::path::Path;

use anyhow::{Context, Result};
use numbering_store::{MIGRATOR, Store};
use sqlx::{Connection, PgConnection};

use crate::{
    config::Config,
    embedded::{Durability, EmbeddedPostgres},
};

/// The database the process works against.
pub struct Database {
    /// Owner (migration) credentials.
    pub owner_url: String,
    /// The application's pool (SET ROLE numbering_app).
    pub store: Store,
    /// The private cluster, when no DATABASE_URL was given.
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects to `DATABASE_URL`, or starts the embedded cluster under the
    /// data directory (created on first use, reused afterwards). Applies
    /// migrations when embedded or when `migrate` is set.
    pub async fn open(config: &Config, migrate: bool) -> Result<Self> {
        Self::open_with(config, migrate, false).await
    }

    /// [`Database::open`] for `serve`: it starts even when `DATABASE_URL`
    /// reaches only servers in recovery (not ready, no singletons, until one
    /// is promoted), and its pool follows the primary through failovers.
    pub async fn open_for_serve(config: &Config) -> Result<Self> {
        Self::open_with(config, false, true).await
    }

    async fn open_with(config: &Config, migrate: bool, wait_for_primary: bool) -> Result<Self> {
        let (owner_url, app_url, embedded) = match config.store.url().await? {
            Some(url) => {
                let owner =
                    std::env::var("NUMBERING_MIGRATE_DATABASE_URL").unwrap_or_else(|_| url.clone());
                (owner, url, None)
            }
            None => {
                let dir = config.data_dir.join("pg");
                let port = std::env::var("NUMBERING_PG_PORT")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                let pg = tokio::task::spawn_blocking(move || {
                    EmbeddedPostgres::start(&dir, port, Durability::Durable)
                })
                .await??;
                if !pg.is_own() {
                    tracing::info!(
                        data_dir = %pg.data_dir().display(),
                        "using the Postgres cluster another numbering process runs on the data directory"
                    );
                }
                create_database(&pg.url("postgres"), "numbering").await?;
                let url = pg.url("numbering");
                (url.clone(), url, Some(pg))
            }
        };
        if migrate || embedded.is_some() {
            numbering_store::migrate(&owner_url)
                .await
                .context("applying migrations")?;
        }
        let mut pool_config = config.store.pool(&app_url);
        pool_config.wait_for_primary = wait_for_primary;
        let (pool, primary) = numbering_store::connect_following(&pool_config)
            .await
            .context("connecting to Postgres")?;
        Ok(Self {
            owner_url,
            store: Store::new(pool, config.store.policy).with_primary(primary),
            embedded,
        })
    }

    /// Closes the pool and stops the embedded cluster, if any.
    pub async fn close(self) {
        self.store.pool().close().await;
        if let Some(pg) = self.embedded {
            let _ = tokio::task::spawn_blocking(move || pg.stop()).await;
        }
    }
}

/// `CREATE DATABASE name` unless it exists.
pub async fn create_database(server_url: &str, name: &str) -> Result<()> {
    let mut conn = PgConnection::connect(server_url)
        .await
        .context("connecting to the embedded cluster")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
    }
    conn.close().await?;
    Ok(())
}

/// Whether every embedded migration has been applied (for `/readyz`).
pub async fn migrations_applied(pool: &sqlx::PgPool) -> Result<bool> {
    let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(applied.is_some_and(|v| v >= latest))
}

/// The HS256 development secret: configured, or created once under the
/// data directory (embedded mode only) and reused.
pub fn dev_secret(config: &Config) -> Result<Option<String>> {
    if let Some(s) = &config.edge.jwt.hs256_secret {
        return Ok(Some(s.clone()));
    }
    if config.store.names_a_database() {
        return Ok(None);
    }
    let path = config.data_dir.join("jwt-hs256-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        return Ok(Some(s.trim().to_owned()));
    }
    let secret = hex::encode(uuid::Uuid::new_v4().as_bytes())
        + &hex::encode(uuid::Uuid::new_v4().as_bytes());
    write_private(&path, &secret)?;
    Ok(Some(secret))
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}
