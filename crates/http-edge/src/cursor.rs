//! The opaque page cursor of the inventory listings: the identity key of
//! the last row of a page, base64url. A cursor is checked before it goes
//! near the database: one that does not decode to an identity key (forged,
//! truncated, garbage) is a 400 `INVALID_CURSOR`, never a 500.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use numbering_shared::Identifier;

use axum::http::StatusCode;

use crate::ApiError;

/// The cursor that continues after the row with identity key `key`.
pub fn encode(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// One page of `rows`, fetched with `limit + 1` so that a further row
/// tells there is a next page: the first `limit` rows, and the cursor after
/// the last of them (`key` gives a row's identity key) when there is more.
pub fn page<T>(rows: &[T], limit: i64, key: impl Fn(&T) -> &str) -> (&[T], Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(0);
    let rows_on_page = &rows[..rows.len().min(limit)];
    let next = (rows.len() > limit)
        .then(|| rows_on_page.last().map(|r| encode(key(r))))
        .flatten();
    (rows_on_page, next)
}

/// The identity key a cursor continues after.
///
/// # Errors
///
/// [`refused`] unless `cursor` is the encoding of an identity key, as
/// [`encode`] writes it.
pub fn decode(cursor: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|key| Identifier::parse(key).is_ok_and(|id| id.key() == *key))
        .ok_or_else(refused)
}

/// 400 `INVALID_CURSOR` (field `cursor`): the cursor of any listing is not
/// one this API returned.
pub fn refused() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_CURSOR",
        "cursor is not one this API returned",
    )
    .field("cursor")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_the_identity_key_of_every_kind() {
        for key in ["+93791234567", "4455", "ACMEBANK"] {
            assert_eq!(decode(&encode(key)).unwrap(), key);
        }
    }

    #[test]
    fn a_forged_cursor_is_refused_whatever_it_decodes_to() {
        // "AAAA" decodes to three NULs; the rest to text that is no key
        for forged in [
            "AAAA",
            "%%%",
            "",
            &encode("\0"),
            &encode("zz\u{1}"),
            &encode("AcmeBank"),
            &encode("+93 79 123 4567"),
            &URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
        ] {
            let e = decode(forged).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "INVALID_CURSOR"),
                "{forged}"
            );
            assert_eq!(e.field.as_deref(), Some("cursor"));
        }
    }
}
