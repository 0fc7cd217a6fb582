//! Inventory criteria on the wire: the six filter fields (`kind`,
//! `operator`, `prefix`, `contains`, `suffix`, `vanity_only`) that the
//! portal's browse and reserve-any and the admin inventory search share.
//!
//! They are stated once, here: [`criteria_params!`](crate::criteria_params)
//! declares every strict request struct that carries them (a JSON body
//! member or a query string, with more fields after them) together with its
//! parser into the store's [`Criteria`]; [`schema`] and [`params`] are their
//! OpenAPI forms.

use numbering_shared::IdentifierKind;

use crate::{
    ApiError,
    openapi::{Param, query},
};

/// Declares a strict (unknown fields refused) request struct whose fields
/// are the six criteria fields, then the ones given, in that order (serde's
/// "expected one of" messages list them so), and its `criteria(prefix)`
/// parser; `prefix` names the fields in errors (`criteria.`).
#[macro_export]
macro_rules! criteria_params {
    ($(#[$meta:meta])* $vis:vis struct $name:ident {
        $($(#[$fmeta:meta])* $fvis:vis $field:ident: $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, ::serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            pub kind: Option<String>,
            pub operator: Option<String>,
            pub prefix: Option<String>,
            pub contains: Option<String>,
            pub suffix: Option<String>,
            pub vanity_only: Option<bool>,
            $($(#[$fmeta])* $fvis $field: $ty,)*
        }

        impl $name {
            /// The criteria, checked; `prefix` names the fields in errors.
            pub fn criteria(
                &self,
                prefix: &str,
            ) -> Result<::numbering_store::Criteria, $crate::ApiError> {
                use $crate::criteria::{kind, operator, text};
                Ok(::numbering_store::Criteria {
                    kind: kind(prefix, self.kind.as_deref())?,
                    operator: operator(prefix, self.operator.as_deref())?,
                    prefix: text(&format!("{prefix}prefix"), &self.prefix)?,
                    contains: text(&format!("{prefix}contains"), &self.contains)?,
                    suffix: text(&format!("{prefix}suffix"), &self.suffix)?,
                    vanity_only: self.vanity_only.unwrap_or(false),
                })
            }
        }
    };
}

criteria_params! {
    /// Criteria as a member of a JSON body (`"criteria": {…}`).
    pub struct CriteriaBody {}
}

/// `kind`: MSISDN, SHORT_CODE or ALPHA.
pub fn kind(prefix: &str, v: Option<&str>) -> Result<Option<IdentifierKind>, ApiError> {
    v.map(str::parse::<IdentifierKind>)
        .transpose()
        .map_err(|_| {
            ApiError::invalid(
                &format!("{prefix}kind"),
                "kind must be MSISDN, SHORT_CODE or ALPHA",
            )
        })
}

/// `operator`: an operator id, lower-cased.
pub fn operator(prefix: &str, v: Option<&str>) -> Result<Option<String>, ApiError> {
    match v {
        Some(o)
            if o.is_empty()
                || o.len() > 32
                || !o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            Err(ApiError::invalid(
                &format!("{prefix}operator"),
                "operator must be an operator id",
            ))
        }
        o => Ok(o.map(str::to_ascii_lowercase)),
    }
}

/// A text filter: 1 to 32 letters, digits or `+`.
pub fn text(field: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(s)
            if !s.is_empty()
                && s.len() <= 32
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '+') =>
        {
            Ok(Some(s.clone()))
        }
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be 1 to 32 letters, digits or +"),
        )),
    }
}

/// The JSON Schema of [`CriteriaBody`].
pub fn schema() -> serde_json::Value {
    serde_json::json!({ "type": "object", "additionalProperties": false, "properties": {
        "kind": { "type": "string", "enum": ["MSISDN", "SHORT_CODE", "ALPHA"] },
        "operator": { "type": "string", "pattern": "^[a-z0-9-]{2,32}$" },
        "prefix": { "type": "string", "pattern": "^[A-Za-z0-9+]{1,32}$" },
        "contains": { "type": "string", "pattern": "^[A-Za-z0-9+]{1,32}$" },
        "suffix": { "type": "string", "pattern": "^[A-Za-z0-9+]{1,32}$" },
        "vanity_only": { "type": "boolean" }
    }})
}

/// The criteria as OpenAPI query parameters, followed by `more`.
pub fn params(more: impl IntoIterator<Item = Param>) -> Vec<Param> {
    [
        query("kind", "string", "MSISDN, SHORT_CODE or ALPHA"),
        query("operator", "string", "operator id, e.g. roshan"),
        query("prefix", "string", "canonical identifier starts with"),
        query("contains", "string", "canonical identifier contains"),
        query("suffix", "string", "canonical identifier ends with"),
        query("vanity_only", "boolean", "only vanity identifiers"),
    ]
    .into_iter()
    .chain(more)
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    criteria_params! {
        struct Search {
            pub limit: Option<i64>,
        }
    }

    fn search(q: &str) -> Search {
        serde_json::from_str(q).unwrap()
    }

    #[test]
    fn criteria_fields_come_first_and_more_fields_follow() {
        let err = serde_json::from_str::<Search>(r#"{"nope": 1}"#).unwrap_err();
        assert!(
            err.to_string().contains(
                "expected one of `kind`, `operator`, `prefix`, `contains`, `suffix`, `vanity_only`, `limit`"
            ),
            "{err}"
        );
    }

    #[test]
    fn criteria_are_parsed_with_the_prefix_in_field_names() {
        let q = search(r#"{"kind": "ALPHA", "operator": "Roshan", "suffix": "77", "limit": 3}"#);
        assert_eq!(q.limit, Some(3));
        let c = q.criteria("criteria.").unwrap();
        assert_eq!(c.kind, Some(IdentifierKind::Alpha));
        assert_eq!(c.operator.as_deref(), Some("roshan"));
        assert_eq!(c.suffix.as_deref(), Some("77"));
        assert!(!c.vanity_only);
        let bad = search(r#"{"contains": "a%b"}"#)
            .criteria("criteria.")
            .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("criteria.contains"));
        assert_eq!(
            bad.detail,
            "criteria.contains must be 1 to 32 letters, digits or +"
        );
        let bad = search(r#"{"kind": "FAX"}"#).criteria("").unwrap_err();
        assert_eq!(
            (bad.field.as_deref(), bad.detail.as_str()),
            (Some("kind"), "kind must be MSISDN, SHORT_CODE or ALPHA")
        );
    }
}
