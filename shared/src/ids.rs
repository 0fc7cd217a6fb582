//! Identifiers of tenants, accounts, leases and reservations.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

/// Longest accepted tenant id, in characters.
pub const TENANT_ID_MAX_LEN: usize = 64;

/// A tenant's id, as carried in the `tenant_id` JWT claim.
///
/// Invariant: 1 to 64 characters, each an ASCII letter, digit, `-`, `_`, `.`
/// or `:`. No trimming or case folding is done: the id is compared exactly.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

/// Why a string is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantIdError {
    /// The empty string.
    #[error("tenant id is empty")]
    Empty,
    /// More than [`TENANT_ID_MAX_LEN`] characters.
    #[error("tenant id is too long: at most {max} characters are accepted")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("invalid character {ch:?} at position {position} in tenant id")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character position.
        position: usize,
    },
}

impl TenantId {
    /// Parses a tenant id.
    ///
    /// # Errors
    ///
    /// Returns a [`TenantIdError`] if `input` is empty, longer than 64
    /// characters or holds a character outside the allowed set.
    pub fn parse(input: &str) -> Result<TenantId, TenantIdError> {
        if input.is_empty() {
            return Err(TenantIdError::Empty);
        }
        // Checked before the characters so that the work stays bounded.
        if input.len() > TENANT_ID_MAX_LEN {
            return Err(TenantIdError::TooLong {
                max: TENANT_ID_MAX_LEN,
            });
        }
        if let Some((position, ch)) = input
            .chars()
            .enumerate()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(TenantIdError::InvalidCharacter { ch, position });
        }
        Ok(TenantId(input.to_owned()))
    }

    /// The id as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = TenantIdError;

    /// Same as [`TenantId::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// An account inside a tenant (an enterprise tenant's department or
/// customer), as carried in the `account_id` JWT claim or chosen by the
/// tenant's pool admin: the scope of a per-account sub-quota.
///
/// Invariant: the same syntax as a [`TenantId`] (1 to 64 ASCII letters,
/// digits, `-`, `_`, `.` or `:`), compared exactly; unique within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Why a string is not a valid account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account id must be 1 to 64 ASCII letters, digits, '-', '_', '.' or ':'")]
pub struct InvalidAccountId;

impl AccountId {
    /// Parses an account id.
    ///
    /// # Errors
    ///
    /// Returns [`InvalidAccountId`] for what [`TenantId::parse`] refuses.
    pub fn parse(input: &str) -> Result<AccountId, InvalidAccountId> {
        TenantId::parse(input)
            .map(|t| AccountId(t.0))
            .map_err(|_| InvalidAccountId)
    }

    /// The id as given.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AccountId {
    type Err = InvalidAccountId;

    /// Same as [`AccountId::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A string that is not a UUID where one was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected a uuid")]
pub struct InvalidUuid {
    /// What was being parsed (`lease id`, `reservation id`).
    pub what: &'static str,
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered (version 7) UUID.
            #[must_use]
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (for example one read back from the database).
            #[must_use]
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            #[doc = concat!("Parses a ", $what, " from any textual UUID form.")]
            ///
            /// # Errors
            ///
            /// Returns [`InvalidUuid`] if `input` is not a UUID.
            pub fn parse(input: &str) -> Result<Self, InvalidUuid> {
                Uuid::try_parse(input)
                    .map(Self)
                    .map_err(|_| InvalidUuid { what: $what })
            }
        }

        impl fmt::Display for $name {
            /// The hyphenated lowercase form.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidUuid;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

uuid_id!(
    /// The id of a lease (one tenant's right to send from one identifier for a term).
    LeaseId,
    "lease id"
);

uuid_id!(
    /// The id of a reservation (or, after `hold`, of the same reservation held).
    ReservationId,
    "reservation id"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_ids_accept_letters_digits_and_some_punctuation() {
        for ok in ["t", "acme", "tenant-42", "org_1.eu:prod", &"a".repeat(64)] {
            assert_eq!(TenantId::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn tenant_ids_refuse_empty_long_and_odd_input() {
        assert_eq!(TenantId::parse(""), Err(TenantIdError::Empty));
        assert_eq!(
            TenantId::parse(&"a".repeat(65)),
            Err(TenantIdError::TooLong { max: 64 })
        );
        assert_eq!(
            TenantId::parse("acme corp"),
            Err(TenantIdError::InvalidCharacter {
                ch: ' ',
                position: 4
            })
        );
        assert_eq!(
            TenantId::parse("ténant"),
            Err(TenantIdError::InvalidCharacter {
                ch: 'é',
                position: 1
            })
        );
    }

    #[test]
    fn tenant_ids_are_compared_exactly() {
        assert_ne!(
            TenantId::parse("Acme").unwrap(),
            TenantId::parse("acme").unwrap()
        );
    }

    #[test]
    fn new_lease_ids_are_distinct_version_7_uuids() {
        let a = LeaseId::new();
        let b = LeaseId::new();
        assert_ne!(a, b);
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_eq!(ReservationId::new().as_uuid().get_version_num(), 7);
    }

    #[test]
    fn uuid_ids_round_trip_through_text() {
        let id = ReservationId::new();
        assert_eq!(ReservationId::parse(&id.to_string()), Ok(id));
        assert_eq!(id.to_string().parse::<ReservationId>(), Ok(id));
        let uuid = Uuid::new_v4();
        assert_eq!(LeaseId::from_uuid(uuid).as_uuid(), uuid);
        assert_eq!(Uuid::from(LeaseId::from(uuid)), uuid);
    }

    #[test]
    fn malformed_uuid_ids_say_what_was_expected() {
        let err = LeaseId::parse("not-a-uuid").unwrap_err();
        assert_eq!(err.to_string(), "invalid lease id: expected a uuid");
        assert_eq!(
            ReservationId::parse("").unwrap_err().to_string(),
            "invalid reservation id: expected a uuid"
        );
    }

    proptest! {
        #[test]
        fn valid_tenant_ids_round_trip(s in "[A-Za-z0-9._:-]{1,64}") {
            let id = TenantId::parse(&s).unwrap();
            prop_assert_eq!(id.to_string(), s);
        }

        #[test]
        fn arbitrary_tenant_ids_never_panic(s in "\\PC{0,100}") {
            let _ = TenantId::parse(&s);
        }
    }
}
