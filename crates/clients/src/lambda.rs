//! A Lambda function's start, the same for all of them ([`start`]): logs
//! first, then the configuration and the function's own init, reported
//! through the Runtime API, then its `lambda::run`. `lambda_runtime`
//! reports to `/init/error` only what fails inside it; a function whose own
//! set-up fails (Postgres unreachable, a bad setting) would otherwise exit
//! with its cause only in the logs, and Lambda would show a bare
//! `Runtime.ExitError`. Metrics go out as CloudWatch EMF ([`crate::emf`]),
//! flushed after each invocation.

use std::{error::Error, future::Future, process::ExitCode};

use lambda_runtime::{LambdaEvent, service_fn};
use lambda_runtime_api_client::{PooledClient, body::Body};
use serde::{Serialize, de::DeserializeOwned};

use crate::config::FromLookup;

pub type BoxError = Box<dyn Error + Send + Sync>;

/// The whole of a Lambda's `main`: installs the log subscriber
/// ([`crate::telemetry`]), reads the function's configuration `C` from the
/// environment (an error is reported like any init error: logged, posted
/// to `/runtime/init/error`, exit 1), then runs `run(config)` until the
/// runtime stops.
pub fn start<C, Fut>(run: impl FnOnce(C) -> Fut) -> ExitCode
where
    C: FromLookup,
    Fut: Future<Output = Result<(), BoxError>>,
{
    crate::telemetry::init_logging();
    // before the function's init registers its metric handles
    crate::emf::install();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "could not start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let config = init(async { C::from_env() }).await?;
        run(config).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %describe(e.as_ref()), "the function stopped");
            ExitCode::FAILURE
        }
    }
}

/// Runs `init` (its error reported as [`init`] does), then serves each
/// event of type `E` with `handler` and what `init` built.
pub async fn serve_events<S, E, R, F, Fut>(
    ready: impl Future<Output = Result<S, BoxError>>,
    handler: F,
) -> Result<(), BoxError>
where
    S: Clone + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(S, E) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, BoxError>> + Send + 'static,
{
    let state = init(ready).await?;
    let service = service_fn(move |event: LambdaEvent<E>| handler(state.clone(), event.payload));
    lambda_runtime::run(crate::emf::FlushAfter(service)).await
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
