//! The validate-lease Lambda: ValidateLease and Lookup as JSON behind its
//! function URL (`lambda_http` reads Function URL requests like API Gateway
//! v2 events), over the same read tiers as the host.

use numbering_clients::lambda::{self, BoxError};

use crate::{Validator, config::Config, router};

/// Connects (both pools), builds the tiers, then serves requests until the
/// runtime stops.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let app = lambda::init(async move {
        let store = config.store.connect().await?;
        let dynamo = config.hot_path.dynamo_tier().await;
        let reader = config.hot_path.reader(&store, dynamo).await?;
        let app = config.access_log.wrap(router(Validator::new(reader)));
        Ok::<_, BoxError>(app.layer(numbering_clients::traces::TraceLayer))
    })
    .await?;
    lambda_http::run(numbering_clients::emf::FlushAfter(app)).await
}
