//! The admin Lambda's configuration: the database, the edge, the
//! regulator export's signer and store (the admin export routes), and the
//! two-person rule ([`TwoPersonConfig`], which the host composes too).

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use numbering_clients::config::{ConfigError, FromLookup, StoreConfig, duration, number};
use numbering_export::config::ExportConfig;
use numbering_http_edge::{Edge, TwoPersonRule, config::EdgeConfig};

use crate::approvals::ACTIONS;

/// The two-person rule: `NUMBERING_TWO_PERSON_ACTIONS` (a comma list of
/// action names, default every dangerous action; `none` or `off` turns the
/// rule off, which the actions' audit entries then record),
/// `NUMBERING_TWO_PERSON_QUOTA_THRESHOLD` (default 1000: a pool change
/// raising a quota above it, or changing the tier, needs two admins) and
/// `NUMBERING_APPROVAL_TTL` (default `24h`: how long a request waits).
#[derive(Debug, Clone)]
pub struct TwoPersonConfig(pub TwoPersonRule);

impl TwoPersonConfig {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        const KEY: &str = "NUMBERING_TWO_PERSON_ACTIONS";
        let known: BTreeSet<String> = ACTIONS.iter().map(|a| (*a).to_owned()).collect();
        let actions = match get(KEY).as_deref().map(str::trim) {
            None | Some("") => known,
            Some(v) if v.eq_ignore_ascii_case("none") || v.eq_ignore_ascii_case("off") => {
                BTreeSet::new()
            }
            Some(v) => {
                let named: BTreeSet<String> = v
                    .split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect();
                if let Some(unknown) = named.iter().find(|a| !known.contains(*a)) {
                    return Err(ConfigError(format!(
                        "{KEY}: {unknown:?} is not a two-person action (known: {}; or none)",
                        known.iter().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
                named
            }
        };
        let ttl = duration(
            get,
            "NUMBERING_APPROVAL_TTL",
            Duration::from_secs(24 * 3600),
        )?;
        if ttl.is_zero() {
            return Err(ConfigError(
                "NUMBERING_APPROVAL_TTL must be positive".into(),
            ));
        }
        Ok(Self(TwoPersonRule {
            actions,
            quota_threshold: number(get, "NUMBERING_TWO_PERSON_QUOTA_THRESHOLD", 1000)?,
            ttl,
        }))
    }

    /// `edge` with this rule.
    pub fn apply(&self, mut edge: Edge) -> Edge {
        edge.two_person = Some(Arc::new(self.0.clone()));
        edge
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL` (required) and the rest of [`StoreConfig`]; a pool of 2.
    pub store: StoreConfig,
    pub edge: EdgeConfig,
    pub export: ExportConfig,
    pub two_person: TwoPersonConfig,
}

impl FromLookup for Config {
    fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_lookup(get, 2)?.required()?,
            edge: EdgeConfig::from_lookup(get)?,
            export: ExportConfig::from_lookup(get)?,
            two_person: TwoPersonConfig::from_lookup(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use numbering_clients::config::lambda_config;

    #[test]
    fn the_edge_and_export_variables_are_the_hosts() {
        let c: Config = lambda_config(&[
            ("NUMBERING_JWT_ISSUER", "https://id"),
            ("NUMBERING_EXPORT_STORE", "s3://exports/x"),
        ])
        .unwrap();
        assert_eq!(c.edge.jwt.issuer, "https://id");
        assert_eq!(c.export.store.as_deref(), Some("s3://exports/x"));
        assert_eq!(c.store.db_max_connections, 2);
    }

    #[test]
    fn the_two_person_rule_covers_the_dangerous_actions_unless_turned_off() {
        let rule = |pairs: &[(&str, &str)]| lambda_config::<Config>(pairs).map(|c| c.two_person.0);
        let default = rule(&[]).unwrap();
        assert!(default.actions.contains("quarantine.override"));
        assert_eq!(default.actions.len(), ACTIONS.len());
        assert_eq!(default.ttl, Duration::from_secs(24 * 3600));
        assert!(
            rule(&[("NUMBERING_TWO_PERSON_ACTIONS", "none")])
                .unwrap()
                .actions
                .is_empty()
        );
        assert!(
            rule(&[("NUMBERING_TWO_PERSON_ACTIONS", "OFF")])
                .unwrap()
                .actions
                .is_empty()
        );
        let one = rule(&[(
            "NUMBERING_TWO_PERSON_ACTIONS",
            "number.retire, number.recall",
        )])
        .unwrap();
        assert_eq!(one.actions.len(), 2);
        assert!(rule(&[("NUMBERING_TWO_PERSON_ACTIONS", "number.explode")]).is_err());
        assert!(rule(&[("NUMBERING_APPROVAL_TTL", "0s")]).is_err());
    }
}
