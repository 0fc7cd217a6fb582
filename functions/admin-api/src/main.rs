//! AWS Lambda entry point: the admin router behind `lambda_http`.

use numbering_clients::lambda;
use numbering_http_edge::{AccessLog, ApiState, Edge, Verifier, openapi, with_fallbacks};
use numbering_store::{PoolConfig, Store, connect, policy_from_env};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::init_logging();
    let app = lambda::init(async {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let url = env("DATABASE_URL").ok_or("DATABASE_URL is not set")?;
        let mut config = PoolConfig::new(url);
        config.max_connections = 2;
        config.set_role = env("NUMBERING_DB_ROLE");
        let pool = connect(&config).await?;
        let store = Store::new(pool, policy_from_env()?);
        let mut edge = Edge::new(Verifier::from_env(env)?);
        // regulator exports: the signer and WORM store from NUMBERING_EXPORT_*
        // (KMS and S3 Object Lock on AWS); Lambda's only writable directory
        // holds the temporary files
        edge.exports = Some(numbering_export::config::tools_from_env(&std::env::temp_dir()).await?);
        edge.access_log = AccessLog::from_env()?;
        let access_log = edge.access_log.clone();
        let state = ApiState { store, edge };
        let app = numbering_admin_api::router(state).merge(openapi::docs_router(
            "numbering admin API",
            numbering_admin_api::operations(),
        ));
        Ok::<_, lambda_http::Error>(access_log.wrap(with_fallbacks(app)))
    })
    .await?;
    lambda_http::run(app).await
}
