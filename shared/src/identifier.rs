//! Sender identifiers: MSISDNs, short codes and alphanumeric sender IDs.
//!
//! An [`Identifier`] can only be obtained through [`Identifier::parse`] or
//! [`Identifier::parse_as`], so holding one proves the value is well formed and
//! in canonical form. Parsing is bounded: input longer than
//! [`MAX_INPUT_LEN`] bytes is refused before any other work is done.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// Longest raw input (in bytes, before trimming) that the parsers look at.
pub const MAX_INPUT_LEN: usize = 64;

/// Country calling code of Afghanistan, as it appears in canonical MSISDNs.
pub const AFGHAN_COUNTRY_CODE: &str = "93";

/// Digits in an Afghan national (significant) mobile number.
const NATIONAL_LEN: usize = 9;

/// Accepted short-code lengths, in digits.
pub const SHORT_CODE_LEN: std::ops::RangeInclusive<usize> = 3..=6;

/// Accepted alphanumeric sender ID lengths, in characters.
pub const ALPHA_LEN: std::ops::RangeInclusive<usize> = 3..=11;

/// The three kinds of sender identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdentifierKind {
    /// A mobile number (E.164, Afghanistan only: `+93` then 9 digits starting with 7).
    Msisdn,
    /// A regulator-allocated short code of 3 to 6 digits.
    ShortCode,
    /// An alphanumeric sender ID (3 to 11 characters, case-insensitive identity).
    Alpha,
}

impl IdentifierKind {
    /// Every kind, in a stable order.
    pub const ALL: [IdentifierKind; 3] = [Self::Msisdn, Self::ShortCode, Self::Alpha];

    /// The stable wire and database name: `MSISDN`, `SHORT_CODE` or `ALPHA`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Msisdn => "MSISDN",
            Self::ShortCode => "SHORT_CODE",
            Self::Alpha => "ALPHA",
        }
    }
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The input named no identifier kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown identifier kind {0:?}: expected MSISDN, SHORT_CODE or ALPHA")]
pub struct UnknownIdentifierKind(pub String);

impl FromStr for IdentifierKind {
    type Err = UnknownIdentifierKind;

    /// Accepts exactly the names returned by [`IdentifierKind::as_str`], in any ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownIdentifierKind(truncate_for_error(s)))
    }
}

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Nothing but whitespace was given.
    #[error("identifier is empty")]
    Empty,
    /// The raw input exceeds [`MAX_INPUT_LEN`] bytes.
    #[error("identifier is too long: at most {max} bytes are accepted")]
    TooLong {
        /// The limit, in bytes.
        max: usize,
    },
    /// A character that no accepted form allows at that place.
    #[error("invalid character {ch:?} at position {position}")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its 0-based character position in the raw input.
        position: usize,
    },
    /// Digits that do not form an Afghan mobile number.
    #[error("not an afghan mobile number: expected +93 followed by 9 digits starting with 7")]
    NotAfghanMobile,
    /// A digit string whose length fits neither a short code nor an MSISDN.
    #[error("a short code has 3 to 6 digits, got {len}")]
    ShortCodeLength {
        /// Number of digits given.
        len: usize,
    },
    /// An alphanumeric sender ID made only of digits and punctuation.
    #[error("an alphanumeric sender id needs at least one letter")]
    AlphaNeedsLetter,
    /// An alphanumeric sender ID outside 3 to 11 characters.
    #[error("an alphanumeric sender id has 3 to 11 characters, got {len}")]
    AlphaLength {
        /// Number of characters given (after trimming).
        len: usize,
    },
    /// Two spaces in a row inside an alphanumeric sender ID.
    #[error("consecutive spaces at position {position}")]
    ConsecutiveSpaces {
        /// 0-based character position, in the raw input, of the second space.
        position: usize,
    },
}

/// A valid sender identifier in canonical form.
///
/// Invariants (guaranteed by the parsers, the only constructors):
/// - `MSISDN`: `+93` followed by exactly 9 ASCII digits, the first being `7`;
/// - `SHORT_CODE`: 3 to 6 ASCII digits;
/// - `ALPHA`: 3 to 11 characters from ASCII letters, digits, space, `-`, `.`,
///   at least one letter, no leading, trailing or consecutive spaces; the
///   given case is kept for display, but identity is case-insensitive.
///
/// Equality and hashing follow [`Identifier::key`], so `AcmeBank` and
/// `ACMEBANK` are the same identifier.
#[derive(Debug, Clone)]
pub struct Identifier {
    kind: IdentifierKind,
    canonical: String,
}

impl Identifier {
    /// Parses `input`, detecting its kind.
    ///
    /// Detection, after trimming outer whitespace:
    /// 1. a leading `+` means MSISDN;
    /// 2. anything containing an ASCII letter is ALPHA;
    /// 3. 3 to 6 plain digits are a `SHORT_CODE`;
    /// 4. other strings of digits and separators (space, `-`, `.`, `(`, `)`)
    ///    must normalise to an Afghan MSISDN;
    /// 5. anything else is refused with the first offending character.
    ///
    /// # Errors
    ///
    /// Returns an [`IdentifierError`] describing the first problem found.
    pub fn parse(input: &str) -> Result<Identifier, IdentifierError> {
        let (trimmed, offset) = trim_checked(input)?;
        if trimmed.starts_with('+') {
            return parse_msisdn(trimmed, offset);
        }
        if trimmed.bytes().any(|b| b.is_ascii_alphabetic()) {
            return parse_alpha(trimmed, offset);
        }
        if trimmed.bytes().all(|b| b.is_ascii_digit()) {
            return match trimmed.len() {
                len if SHORT_CODE_LEN.contains(&len) => parse_short_code(trimmed, offset),
                len if len < *SHORT_CODE_LEN.start() => {
                    Err(IdentifierError::ShortCodeLength { len })
                }
                _ => parse_msisdn(trimmed, offset),
            };
        }
        if trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || is_separator(c))
        {
            let digits = trimmed.bytes().filter(u8::is_ascii_digit).count();
            if digits <= *SHORT_CODE_LEN.end() {
                // Short codes are plain digits: point at the first separator.
                return Err(first_invalid(trimmed, offset, |c| c.is_ascii_digit()));
            }
            return parse_msisdn(trimmed, offset);
        }
        // Neither digits nor letters: let the ALPHA rules name the bad character.
        parse_alpha(trimmed, offset)
    }

    /// Parses `input` as the given `kind`, without detection.
    ///
    /// # Errors
    ///
    /// Returns an [`IdentifierError`] if `input` is not a valid identifier of that kind.
    pub fn parse_as(kind: IdentifierKind, input: &str) -> Result<Identifier, IdentifierError> {
        let (trimmed, offset) = trim_checked(input)?;
        match kind {
            IdentifierKind::Msisdn => parse_msisdn(trimmed, offset),
            IdentifierKind::ShortCode => parse_short_code(trimmed, offset),
            IdentifierKind::Alpha => parse_alpha(trimmed, offset),
        }
    }

    /// The kind of this identifier.
    #[must_use]
    pub fn kind(&self) -> IdentifierKind {
        self.kind
    }

    /// The canonical form (`+93791234567`, `4455`, `AcmeBank`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The identity key: unique per identifier within its kind.
    ///
    /// For ALPHA this is the ASCII-uppercased canonical form (identity is
    /// case-insensitive); for the other kinds it is the canonical form.
    #[must_use]
    pub fn key(&self) -> String {
        match self.kind {
            IdentifierKind::Alpha => self.canonical.to_ascii_uppercase(),
            IdentifierKind::Msisdn | IdentifierKind::ShortCode => self.canonical.clone(),
        }
    }

    /// For an MSISDN, the 9-digit national number after `+93`; `None` otherwise.
    #[must_use]
    pub fn national_number(&self) -> Option<&str> {
        match self.kind {
            IdentifierKind::Msisdn => Some(&self.canonical[1 + AFGHAN_COUNTRY_CODE.len()..]),
            IdentifierKind::ShortCode | IdentifierKind::Alpha => None,
        }
    }
}

impl PartialEq for Identifier {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && match self.kind {
                IdentifierKind::Alpha => self.canonical.eq_ignore_ascii_case(&other.canonical),
                IdentifierKind::Msisdn | IdentifierKind::ShortCode => {
                    self.canonical == other.canonical
                }
            }
    }
}

impl Eq for Identifier {}

impl Hash for Identifier {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Must agree with `eq`: hash the key without allocating it.
        self.kind.hash(state);
        for b in self.canonical.bytes() {
            state.write_u8(b.to_ascii_uppercase());
        }
        state.write_u8(0xff);
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl FromStr for Identifier {
    type Err = IdentifierError;

    /// Same as [`Identifier::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Rejects over-long input, trims outer whitespace and rejects empty input.
///
/// Returns the trimmed string and the number of characters trimmed from the
/// start (so error positions refer to the raw input).
fn trim_checked(input: &str) -> Result<(&str, usize), IdentifierError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(IdentifierError::TooLong { max: MAX_INPUT_LEN });
    }
    let start = input.trim_start();
    let offset = input[..input.len() - start.len()].chars().count();
    let trimmed = start.trim_end();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty);
    }
    Ok((trimmed, offset))
}

/// Separators tolerated between the digits of an MSISDN.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

/// The error for the first character of `s` that fails `ok`.
///
/// Callers guarantee such a character exists; if not, the error still points
/// at the end of the input rather than panicking.
fn first_invalid(s: &str, offset: usize, ok: impl Fn(char) -> bool) -> IdentifierError {
    s.chars().enumerate().find(|&(_, c)| !ok(c)).map_or(
        IdentifierError::NotAfghanMobile,
        |(i, ch)| IdentifierError::InvalidCharacter {
            ch,
            position: offset + i,
        },
    )
}

/// Parses an Afghan mobile number in any accepted notation.
fn parse_msisdn(s: &str, offset: usize) -> Result<Identifier, IdentifierError> {
    let (plus, body) = match s.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let body_offset = offset + usize::from(plus);
    let mut digits = String::with_capacity(body.len());
    for (i, c) in body.chars().enumerate() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if !is_separator(c) {
            return Err(IdentifierError::InvalidCharacter {
                ch: c,
                position: body_offset + i,
            });
        }
    }
    // Separators go between digits: the body must start and end with a digit,
    // except that the first group may be parenthesised.
    let first = body.chars().next();
    let last = body.chars().next_back();
    if let Some(c) = first.filter(|&c| !(c.is_ascii_digit() || c == '(')) {
        return Err(IdentifierError::InvalidCharacter {
            ch: c,
            position: body_offset,
        });
    }
    if let Some(c) = last.filter(|c| !c.is_ascii_digit()) {
        return Err(IdentifierError::InvalidCharacter {
            ch: c,
            position: body_offset + body.chars().count() - 1,
        });
    }

    let cc = AFGHAN_COUNTRY_CODE;
    let national = if plus {
        digits.strip_prefix(cc).filter(|n| n.len() == NATIONAL_LEN)
    } else {
        match digits.len() {
            // 0093 + national
            13 => digits.strip_prefix("00").and_then(|d| d.strip_prefix(cc)),
            // 93 + national
            11 => digits.strip_prefix(cc),
            // trunk 0 + national
            10 => digits.strip_prefix('0'),
            NATIONAL_LEN => Some(digits.as_str()),
            _ => None,
        }
    };
    match national {
        Some(n) if n.len() == NATIONAL_LEN && n.starts_with('7') => Ok(Identifier {
            kind: IdentifierKind::Msisdn,
            canonical: format!("+{cc}{n}"),
        }),
        _ => Err(IdentifierError::NotAfghanMobile),
    }
}

/// Parses a short code: 3 to 6 plain ASCII digits.
fn parse_short_code(s: &str, offset: usize) -> Result<Identifier, IdentifierError> {
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(first_invalid(s, offset, |c| c.is_ascii_digit()));
    }
    if !SHORT_CODE_LEN.contains(&s.len()) {
        return Err(IdentifierError::ShortCodeLength { len: s.len() });
    }
    Ok(Identifier {
        kind: IdentifierKind::ShortCode,
        canonical: s.to_owned(),
    })
}

/// Characters allowed in an alphanumeric sender ID.
fn is_alpha_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '.')
}

/// Parses an alphanumeric sender ID (already trimmed).
fn parse_alpha(s: &str, offset: usize) -> Result<Identifier, IdentifierError> {
    if !s.chars().all(is_alpha_char) {
        return Err(first_invalid(s, offset, is_alpha_char));
    }
    // All ASCII from here on: bytes are characters.
    if let Some(i) = s.as_bytes().windows(2).position(|w| w == b"  ") {
        return Err(IdentifierError::ConsecutiveSpaces {
            position: offset + i + 1,
        });
    }
    if !ALPHA_LEN.contains(&s.len()) {
        return Err(IdentifierError::AlphaLength { len: s.len() });
    }
    if !s.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(IdentifierError::AlphaNeedsLetter);
    }
    Ok(Identifier {
        kind: IdentifierKind::Alpha,
        canonical: s.to_owned(),
    })
}

/// Bounds user input echoed back in error messages.
pub(crate) fn truncate_for_error(s: &str) -> String {
    s.chars().take(MAX_INPUT_LEN).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn parse(s: &str) -> Identifier {
        Identifier::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn every_accepted_msisdn_notation_normalises_to_the_same_canonical_form() {
        for input in [
            "+93791234567",
            "+93 79 123 4567",
            "0093791234567",
            "93791234567",
            "0791234567",
            "791234567",
            "  +93 (79) 123-4567 ",
            "079.123.4567",
            "(079) 123 4567",
        ] {
            let id = parse(input);
            assert_eq!(id.kind(), IdentifierKind::Msisdn, "{input}");
            assert_eq!(id.as_str(), "+93791234567", "{input}");
            assert_eq!(id.national_number(), Some("791234567"));
        }
    }

    #[test]
    fn a_leading_plus_forces_msisdn_rules() {
        assert_eq!(
            Identifier::parse("+4455"),
            Err(IdentifierError::NotAfghanMobile)
        );
        assert_eq!(
            Identifier::parse("+93ABC"),
            Err(IdentifierError::InvalidCharacter {
                ch: 'A',
                position: 3
            })
        );
    }

    #[test]
    fn msisdns_from_other_countries_or_fixed_lines_are_refused() {
        for input in [
            "+447911123456",
            "+93201234567",
            "0201234567",
            "+9379123456",
            "+937912345678",
            "1234567",
            "12345678901234",
            "00937912345",
        ] {
            assert_eq!(
                Identifier::parse(input),
                Err(IdentifierError::NotAfghanMobile),
                "{input}"
            );
        }
    }

    #[test]
    fn separators_must_sit_between_digits() {
        assert!(matches!(
            Identifier::parse("791234567-"),
            Err(IdentifierError::InvalidCharacter { ch: '-', .. })
        ));
        assert!(matches!(
            Identifier::parse("+-93791234567"),
            Err(IdentifierError::InvalidCharacter {
                ch: '-',
                position: 1
            })
        ));
    }

    #[test]
    fn three_to_six_plain_digits_are_a_short_code() {
        for input in ["123", "4455", "12345", "123456", " 4455 "] {
            let id = parse(input);
            assert_eq!(id.kind(), IdentifierKind::ShortCode);
            assert_eq!(id.as_str(), input.trim());
            assert_eq!(id.national_number(), None);
        }
    }

    #[test]
    fn too_short_digit_strings_are_refused_as_short_codes() {
        assert_eq!(
            Identifier::parse("12"),
            Err(IdentifierError::ShortCodeLength { len: 2 })
        );
    }

    #[test]
    fn short_codes_with_separators_are_refused_at_the_separator() {
        assert_eq!(
            Identifier::parse("44 55"),
            Err(IdentifierError::InvalidCharacter {
                ch: ' ',
                position: 2
            })
        );
    }

    #[test]
    fn parse_as_short_code_checks_the_length() {
        assert_eq!(
            Identifier::parse_as(IdentifierKind::ShortCode, "1234567"),
            Err(IdentifierError::ShortCodeLength { len: 7 })
        );
        assert_eq!(
            Identifier::parse_as(IdentifierKind::ShortCode, "12a"),
            Err(IdentifierError::InvalidCharacter {
                ch: 'a',
                position: 2
            })
        );
    }

    #[test]
    fn alpha_keeps_its_case_but_compares_case_insensitively() {
        let a = parse("AcmeBank");
        let b = parse("ACMEBANK");
        assert_eq!(a.kind(), IdentifierKind::Alpha);
        assert_eq!(a.as_str(), "AcmeBank");
        assert_eq!(a.to_string(), "AcmeBank");
        assert_eq!(a.key(), "ACMEBANK");
        assert_eq!(a, b);
        let set: HashSet<Identifier> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn alpha_accepts_digits_spaces_dashes_and_dots() {
        for input in ["ACME-BANK", "Acme Bank", "A.B", "Bank24", "123A", " Acme "] {
            assert_eq!(parse(input).kind(), IdentifierKind::Alpha, "{input}");
        }
    }

    #[test]
    fn alpha_rules_are_enforced() {
        assert_eq!(
            Identifier::parse("AB"),
            Err(IdentifierError::AlphaLength { len: 2 })
        );
        assert_eq!(
            Identifier::parse("ABCDEFGHIJKL"),
            Err(IdentifierError::AlphaLength { len: 12 })
        );
        assert_eq!(
            Identifier::parse("Acme  Bank"),
            Err(IdentifierError::ConsecutiveSpaces { position: 5 })
        );
        assert_eq!(
            Identifier::parse("Acme_Bank"),
            Err(IdentifierError::InvalidCharacter {
                ch: '_',
                position: 4
            })
        );
        assert_eq!(
            Identifier::parse_as(IdentifierKind::Alpha, "12-34"),
            Err(IdentifierError::AlphaNeedsLetter)
        );
        assert_eq!(
            Identifier::parse("Bänk"),
            Err(IdentifierError::InvalidCharacter {
                ch: 'ä',
                position: 1
            })
        );
    }

    #[test]
    fn error_positions_refer_to_the_raw_input() {
        assert_eq!(
            Identifier::parse("  Ac@me"),
            Err(IdentifierError::InvalidCharacter {
                ch: '@',
                position: 4
            })
        );
    }

    #[test]
    fn empty_and_overlong_inputs_are_refused_early() {
        assert_eq!(Identifier::parse(""), Err(IdentifierError::Empty));
        assert_eq!(Identifier::parse(" \t "), Err(IdentifierError::Empty));
        let long = "7".repeat(MAX_INPUT_LEN + 1);
        assert_eq!(
            Identifier::parse(&long),
            Err(IdentifierError::TooLong { max: MAX_INPUT_LEN })
        );
    }

    #[test]
    fn identifiers_of_different_kinds_are_never_equal() {
        let short = Identifier::parse_as(IdentifierKind::ShortCode, "123").unwrap();
        let alpha = Identifier::parse_as(IdentifierKind::Alpha, "A23").unwrap();
        assert_ne!(short, alpha);
    }

    #[test]
    fn kind_names_round_trip_in_any_case() {
        for kind in IdentifierKind::ALL {
            assert_eq!(kind.as_str().parse::<IdentifierKind>(), Ok(kind));
            assert_eq!(
                kind.as_str().to_lowercase().parse::<IdentifierKind>(),
                Ok(kind)
            );
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!("SHORTCODE".parse::<IdentifierKind>().is_err());
    }

    #[test]
    fn error_messages_are_lowercase_without_a_trailing_period() {
        let errors = [
            IdentifierError::Empty,
            IdentifierError::TooLong { max: 64 },
            IdentifierError::InvalidCharacter {
                ch: '@',
                position: 1,
            },
            IdentifierError::NotAfghanMobile,
            IdentifierError::ShortCodeLength { len: 2 },
            IdentifierError::AlphaNeedsLetter,
            IdentifierError::AlphaLength { len: 2 },
            IdentifierError::ConsecutiveSpaces { position: 1 },
        ];
        for e in errors {
            let msg = e.to_string();
            assert!(msg.starts_with(|c: char| c.is_ascii_lowercase()), "{msg}");
            assert!(!msg.ends_with('.'), "{msg}");
        }
    }

    fn national() -> impl Strategy<Value = String> {
        "7[0-9]{8}"
    }

    fn valid_identifier() -> impl Strategy<Value = Identifier> {
        prop_oneof![
            national().prop_map(|n| parse(&format!("+93{n}"))),
            "[0-9]{3,6}".prop_map(|s| parse(&s)),
            "[A-Za-z0-9.-]{0,4}[A-Za-z][A-Za-z0-9.-]{0,4}( [A-Za-z0-9.-]{1,3})?"
                .prop_filter("alpha length", |s| ALPHA_LEN.contains(&s.len()))
                .prop_map(|s| parse(&s)),
        ]
    }

    proptest! {
        #[test]
        fn displaying_and_reparsing_gives_the_same_identifier(id in valid_identifier()) {
            let again = Identifier::parse(&id.to_string()).unwrap();
            prop_assert_eq!(&again, &id);
            prop_assert_eq!(again.as_str(), id.as_str());
            prop_assert_eq!(again.kind(), id.kind());
            let forced = Identifier::parse_as(id.kind(), id.as_str()).unwrap();
            prop_assert_eq!(forced.as_str(), id.as_str());
        }

        #[test]
        fn all_notations_of_one_msisdn_agree(n in national(), sep in "[ .-]") {
            let canonical = format!("+93{n}");
            let spaced = format!("+93{sep}{}{sep}{}{sep}{}", &n[..2], &n[2..5], &n[5..]);
            for input in [
                canonical.clone(),
                format!("0093{n}"),
                format!("93{n}"),
                format!("0{n}"),
                n.clone(),
                spaced,
                format!("(0{}) {}", &n[..2], &n[2..]),
            ] {
                let id = Identifier::parse(&input).unwrap();
                prop_assert_eq!(id.as_str(), canonical.as_str());
                prop_assert_eq!(id.national_number(), Some(n.as_str()));
            }
        }

        #[test]
        fn alpha_identity_ignores_ascii_case(s in "[A-Za-z][A-Za-z0-9.-]{2,10}") {
            let a = Identifier::parse(&s).unwrap();
            let b = Identifier::parse(&s.to_ascii_lowercase()).unwrap();
            prop_assert_eq!(a.key(), b.key());
            prop_assert_eq!(a, b);
        }

        #[test]
        fn arbitrary_input_never_panics_and_success_is_canonical(s in "\\PC{0,80}") {
            if let Ok(id) = Identifier::parse(&s) {
                let again = Identifier::parse(id.as_str()).unwrap();
                prop_assert_eq!(again.as_str(), id.as_str());
            }
            for kind in IdentifierKind::ALL {
                let _ = Identifier::parse_as(kind, &s);
            }
        }

        #[test]
        fn digit_and_separator_soup_never_panics(s in "[0-9 ().+-]{0,70}") {
            if let Ok(id) = Identifier::parse(&s) {
                prop_assert_ne!(id.kind(), IdentifierKind::Alpha);
            }
        }
    }
}
