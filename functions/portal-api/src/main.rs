//! AWS Lambda entry point: the portal router behind `lambda_http`.

use numbering_clients::lambda;
use numbering_http_edge::{
    AccessLog, ApiState, Edge, RateLimiter, Verifier, openapi, with_fallbacks,
};
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
        let verifier = Verifier::from_env(env)?;
        let mut edge = Edge::new(verifier);
        edge.limiter = Some(std::sync::Arc::new(RateLimiter::new(20.0, 40)));
        edge.access_log = AccessLog::from_env()?;
        let access_log = edge.access_log.clone();
        let state = ApiState { store, edge };
        let app = numbering_portal_api::router(state).merge(openapi::docs_router(
            "numbering portal API",
            numbering_portal_api::operations(),
        ));
        Ok::<_, lambda_http::Error>(access_log.wrap(with_fallbacks(app)))
    })
    .await?;
    lambda_http::run(app).await
}
