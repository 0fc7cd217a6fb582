//! What a Lambda function does before `lambda_runtime` takes over: JSON
//! logs, and its init reported through the Runtime API. `lambda_runtime`
//! reports to `/init/error` only what fails inside it; a function whose own
//! set-up fails (Postgres unreachable, a bad setting) would otherwise exit
//! with its cause only in the logs, and Lambda would show a bare
//! `Runtime.ExitError`.

use std::{error::Error, future::Future};

use lambda_runtime_api_client::{PooledClient, body::Body};

pub type BoxError = Box<dyn Error + Send + Sync>;

/// JSON logs on stdout (CloudWatch), filtered by `RUST_LOG` (default
/// `info`); call first in `main`.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .try_init();
}

/// Runs the function's init. Its error is logged and, under Lambda
/// (`AWS_LAMBDA_RUNTIME_API` set), posted to the Runtime API's
/// `/runtime/init/error` with its whole cause, then returned so that the
/// process exits.
pub async fn init<T, E: Into<BoxError>>(
    init: impl Future<Output = Result<T, E>>,
) -> Result<T, BoxError> {
    let error: BoxError = match init.await {
        Ok(ready) => return Ok(ready),
        Err(e) => e.into(),
    };
    let message = describe(error.as_ref());
    tracing::error!(error = %message, "init failed");
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        if let Err(e) = report_init_error(&message).await {
            tracing::error!(error = %e, "could not report the init error to the Runtime API");
        }
    }
    Err(message.into())
}

/// The error and its causes on one line, each cause once.
pub fn describe(error: &(dyn Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    message
}

async fn report_init_error(message: &str) -> Result<(), BoxError> {
    let body = serde_json::json!({
        "errorType": "Runtime.InitError",
        "errorMessage": message,
        "stackTrace": [],
    });
    let request = http::Request::post("/2018-06-01/runtime/init/error")
        .header("lambda-runtime-function-error-type", "Runtime.InitError")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?;
    let response = PooledClient::builder().build().call(request).await?;
    if !response.status().is_success() {
        return Err(format!("/runtime/init/error answered {}", response.status()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(std::io::Error, &'static str);
    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.1)
        }
    }
    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn an_error_is_described_with_each_cause_once() {
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            describe(&Wrapped(refused(), "connecting to Postgres")),
            "connecting to Postgres: refused"
        );
        assert_eq!(
            describe(&Wrapped(
                refused(),
                "error communicating with database: refused"
            )),
            "error communicating with database: refused"
        );
    }
}
