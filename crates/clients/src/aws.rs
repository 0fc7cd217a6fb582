//! The AWS SDK's shared configuration for every AWS client the service
//! makes (S3, KMS, …): rustls with ring as the HTTP client (the SDKs are
//! built without their default features), configured either from the
//! standard environment or for an explicit endpoint (moto's server on
//! loopback in tests and benchmarks).

pub use aws_config::SdkConfig;

/// HTTPS with rustls and ring (plain HTTP for loopback endpoints).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::{
        Builder,
        tls::{Provider, rustls_provider::CryptoMode},
    };
    Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http_client())
}

/// From the SDK's standard environment (`AWS_ENDPOINT_URL`, `AWS_REGION`,
/// credentials chain, …).
pub async fn sdk_config_from_env() -> SdkConfig {
    loader().load().await
}

/// For an explicit endpoint with static test credentials in `us-east-1`.
pub async fn sdk_config_for_endpoint(endpoint: &str) -> SdkConfig {
    loader()
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .test_credentials()
        .load()
        .await
}
