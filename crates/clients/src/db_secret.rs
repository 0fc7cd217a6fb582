//! The database login kept out of plain sight: a secret in the shape of
//! Secrets Manager's PostgreSQL rotation functions (JSON with `username`,
//! `password` and optionally `host`, `port`, `dbname`), or a whole
//! `postgres://` URL.
//!
//! It reaches a deployable one of two ways ([`crate::config::StoreConfig`]):
//! a Lambda reads it once at init from Secrets Manager
//! (`DATABASE_URL_SECRET_ARN`, [`fetch`]); an ECS task gets its value
//! injected by ECS (`DATABASE_CREDENTIALS`). Either way the login is put into
//! `DATABASE_URL` ([`database_url`]), which names the host (an RDS Proxy),
//! the database and the TLS check and carries no password itself.
//!
//! No error message here contains the secret's value.

use serde::Deserialize;

use crate::config::ConfigError;

/// The JSON fields the URL is built from; others (`engine`, a rotation
/// function's `masterarn`, …) are ignored.
#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
    host: Option<String>,
    port: Option<serde_json::Value>,
    dbname: Option<String>,
}

/// `DATABASE_URL` with the secret's login in it. A secret that is itself a
/// `postgres://` URL replaces `template`; a JSON one fills the user and the
/// password into `template`, or, without a template, is the whole address
/// (`host`, `port`, `dbname`). `from` names the secret in errors.
pub fn database_url(
    template: Option<&str>,
    secret: &str,
    from: &str,
) -> Result<String, ConfigError> {
    let secret = secret.trim();
    if secret.starts_with("postgres://") || secret.starts_with("postgresql://") {
        return Ok(secret.to_owned());
    }
    let login: Login = serde_json::from_str(secret).map_err(|e| {
        // serde's message may quote the input: say only where it failed
        ConfigError(format!(
            "{from} is neither a postgres:// URL nor JSON with username and password (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let template = match template {
        Some(t) => t.to_owned(),
        None => address_of(&login, from)?,
    };
    let mut url = url::Url::parse(&template)
        .map_err(|e| ConfigError(format!("DATABASE_URL is not a URL: {e}")))?;
    let refused = || ConfigError(format!("DATABASE_URL cannot carry the login of {from}"));
    // the URL encoder leaves `%` as it is (taking it for an escape); a
    // password may contain one
    let escaped = |s: &str| s.replace('%', "%25");
    url.set_username(&escaped(&login.username))
        .map_err(|()| refused())?;
    url.set_password(Some(&escaped(&login.password)))
        .map_err(|()| refused())?;
    Ok(url.into())
}

/// `postgres://host:port/dbname` from the secret's own fields.
fn address_of(login: &Login, from: &str) -> Result<String, ConfigError> {
    let host = login.host.as_deref().ok_or_else(|| {
        ConfigError(format!(
            "{from} has no host and DATABASE_URL is not set to name one"
        ))
    })?;
    let port = match &login.port {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        _ => "5432".into(),
    };
    let dbname = login.dbname.as_deref().unwrap_or("postgres");
    Ok(format!("postgres://{host}:{port}/{dbname}"))
}

/// The secret's current value (`AWSCURRENT`), from Secrets Manager with the
/// SDK's standard configuration (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn fetch(arn: &str) -> Result<String, ConfigError> {
    let sdk = crate::aws::sdk_config_from_env().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let value = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            ConfigError(format!(
                "reading DATABASE_URL_SECRET_ARN={arn}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(&e)
            ))
        })?;
    value.secret_string().map(str::to_owned).ok_or_else(|| {
        ConfigError(format!(
            "DATABASE_URL_SECRET_ARN={arn} holds no string (a binary secret)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str =
        "postgres://proxy.internal:5432/numbering?sslmode=verify-full&sslrootcert=/var/task/ca.pem";

    #[test]
    fn a_json_login_is_put_into_the_url_which_keeps_host_database_and_tls() {
        let secret = r#"{"engine":"postgres","host":"db.internal","port":5432,"dbname":"x",
            "username":"numbering_service","password":"p@ss:w/rd?#%"}"#;
        let url = database_url(Some(TEMPLATE), secret, "the secret").unwrap();
        assert_eq!(
            url,
            "postgres://numbering_service:p%40ss%3Aw%2Frd%3F%23%25@proxy.internal:5432/numbering\
             ?sslmode=verify-full&sslrootcert=/var/task/ca.pem"
        );
    }

    #[test]
    fn without_a_template_the_secret_is_the_whole_address() {
        let secret =
            r#"{"host":"db.internal","port":"6432","dbname":"n","username":"u","password":"p"}"#;
        let url = database_url(None, secret, "the secret").unwrap();
        assert_eq!(url, "postgres://u:p@db.internal:6432/n");
        let err = database_url(None, r#"{"username":"u","password":"p"}"#, "S").unwrap_err();
        assert!(err.0.contains("S has no host"), "{err}");
    }

    #[test]
    fn a_url_secret_replaces_the_template() {
        let secret = " postgres://u:p@h/db\n";
        assert_eq!(
            database_url(Some(TEMPLATE), secret, "S").unwrap(),
            "postgres://u:p@h/db"
        );
    }

    #[test]
    fn a_malformed_secret_is_refused_without_its_value_in_the_message() {
        for secret in [
            r#"{"username":"u","pass":"hunter2"}"#,
            "hunter2",
            r#"{"password":"hunter2"#,
        ] {
            let err = database_url(Some(TEMPLATE), secret, "DATABASE_CREDENTIALS").unwrap_err();
            assert!(
                err.0.starts_with("DATABASE_CREDENTIALS is neither"),
                "{err}"
            );
            assert!(!err.0.contains("hunter2"), "{err}");
        }
    }
}
