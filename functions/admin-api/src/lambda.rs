//! The admin API as a Lambda: API Gateway v2 (HTTP API) events through the
//! same router the host serves.

use axum::Router;
use numbering_clients::lambda::{self, BoxError};
use numbering_http_edge::{ApiState, config::deployable};

use crate::config::Config;

/// Connects, builds the router (its errors reported as init errors), then
/// serves events until the runtime stops.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let app = lambda::init(app(config)).await?;
    lambda_http::run(numbering_clients::emf::FlushAfter(app)).await
}

/// The router the Lambda serves: no rate limit (admins are few and
/// trusted); exports signed and stored as configured, their temporary files
/// in Lambda's only writable directory.
pub async fn app(config: Config) -> Result<Router, BoxError> {
    let store = config.store.connect().await?;
    let mut edge = config.edge.edge(config.edge.jwt.hs256_secret.as_deref())?;
    edge.exports = Some(config.export.tools(&std::env::temp_dir()).await?);
    let edge = config.two_person.apply(edge);
    let state = ApiState { store, edge };
    Ok(deployable(
        crate::router,
        state,
        "numbering admin API",
        crate::operations(),
    ))
}
