//! AWS Lambda entry point: the validate-lease router behind `lambda_http`.

use numbering_store::{PoolConfig, Store, connect};
use numbering_validate_lease::{Validator, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let url = std::env::var("DATABASE_URL").map_err(|_| "DATABASE_URL is not set")?;
    let mut config = PoolConfig::new(url);
    config.max_connections = 2;
    config.set_role = std::env::var("NUMBERING_DB_ROLE")
        .ok()
        .filter(|r| !r.is_empty());
    let pool = connect(&config).await?;
    let store = Store::new(pool, Default::default());
    lambda_http::run(router(Validator::new(store))).await
}
