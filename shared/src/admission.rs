//! What a tenant's numbering pool admits: the one statement of the rule
//! that a reservation checks (the store, on the locked pool) and that
//! browsing and "reserve any" filter by (the store's SQL, derived rule by
//! rule from [`Rule::ALL`], and tested against [`PoolRules::admits`] on
//! generated pools).
//!
//! Quotas are a separate check ([`crate::quota`]): admission says whether the
//! pool may hold an identifier at all, the quota whether it may hold one
//! more.

use crate::identifier::IdentifierKind;

/// The limits of one tenant's pool that decide which identifiers it admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRules {
    /// The pool is ACTIVE (a suspended pool admits nothing).
    pub active: bool,
    /// The kinds the pool may hold.
    pub allowed_kinds: Vec<IdentifierKind>,
    /// The operators whose MSISDNs the pool may hold; empty: any operator.
    /// An identifier without an operator (a short code, a sender ID) is not
    /// restricted by it.
    pub allowed_operators: Vec<String>,
    /// The pool may hold vanity identifiers.
    pub vanity_allowed: bool,
}

/// What admission looks at of one identifier in inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub kind: IdentifierKind,
    pub operator_id: Option<&'a str>,
    pub vanity: bool,
}

/// One rule of admission. Adapters that filter inventory by the rule state
/// each one in their own language (an exhaustive `match`), so a new rule
/// cannot be checked in one place and forgotten in the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The pool is active.
    PoolActive,
    /// The identifier's kind is allowed.
    Kind,
    /// The identifier's operator, if it has one, is allowlisted (or the
    /// allowlist is empty).
    Operator,
    /// A vanity identifier needs the vanity flag.
    Vanity,
}

impl Rule {
    /// Every rule, in the order [`PoolRules::admits`] checks them (the first
    /// that fails is the refusal).
    pub const ALL: [Rule; 4] = [Self::PoolActive, Self::Kind, Self::Operator, Self::Vanity];
}

/// Why a pool does not admit an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the tenant's numbering pool is suspended")]
    PoolSuspended,
    #[error("the pool does not allow {0} identifiers")]
    Kind(IdentifierKind),
    #[error("the pool does not allow operator {0}")]
    Operator(String),
    #[error("the pool may not hold vanity identifiers")]
    Vanity,
}

impl PoolRules {
    /// Whether the pool admits anything at all ([`Rule::PoolActive`]).
    ///
    /// # Errors
    /// [`Refusal::PoolSuspended`] for a suspended pool.
    pub fn open(&self) -> Result<(), Refusal> {
        self.check(Rule::PoolActive, None)
    }

    /// Whether the pool admits `candidate`: every rule of [`Rule::ALL`].
    ///
    /// # Errors
    /// The refusal of the first rule that fails.
    pub fn admits(&self, candidate: &Candidate<'_>) -> Result<(), Refusal> {
        Rule::ALL
            .into_iter()
            .try_for_each(|rule| self.check(rule, Some(candidate)))
    }

    /// One rule; the pool-level rule needs no candidate, and the others pass
    /// without one.
    fn check(&self, rule: Rule, candidate: Option<&Candidate<'_>>) -> Result<(), Refusal> {
        let Some(c) = candidate else {
            return match rule {
                Rule::PoolActive if !self.active => Err(Refusal::PoolSuspended),
                _ => Ok(()),
            };
        };
        match rule {
            Rule::PoolActive => self.check(rule, None),
            Rule::Kind if !self.allowed_kinds.contains(&c.kind) => Err(Refusal::Kind(c.kind)),
            Rule::Operator => match c.operator_id {
                Some(op)
                    if !self.allowed_operators.is_empty()
                        && !self.allowed_operators.iter().any(|a| a == op) =>
                {
                    Err(Refusal::Operator(op.to_owned()))
                }
                _ => Ok(()),
            },
            Rule::Vanity if c.vanity && !self.vanity_allowed => Err(Refusal::Vanity),
            Rule::Kind | Rule::Vanity => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pool(kinds: &[IdentifierKind], operators: &[&str], vanity: bool) -> PoolRules {
        PoolRules {
            active: true,
            allowed_kinds: kinds.to_vec(),
            allowed_operators: operators.iter().map(|s| (*s).to_owned()).collect(),
            vanity_allowed: vanity,
        }
    }

    fn msisdn(operator: &str) -> Candidate<'_> {
        Candidate {
            kind: IdentifierKind::Msisdn,
            operator_id: Some(operator),
            vanity: false,
        }
    }

    #[test]
    fn a_suspended_pool_admits_nothing_and_says_so_first() {
        let mut p = pool(&[], &["roshan"], false);
        p.active = false;
        assert_eq!(p.open(), Err(Refusal::PoolSuspended));
        assert_eq!(p.admits(&msisdn("awcc")), Err(Refusal::PoolSuspended));
    }

    #[test]
    fn an_operator_allowlist_restricts_only_identifiers_that_have_an_operator() {
        let p = pool(&IdentifierKind::ALL, &["roshan"], false);
        assert_eq!(p.admits(&msisdn("roshan")), Ok(()));
        assert_eq!(
            p.admits(&msisdn("awcc")),
            Err(Refusal::Operator("awcc".into()))
        );
        let short_code = Candidate {
            kind: IdentifierKind::ShortCode,
            operator_id: None,
            vanity: false,
        };
        assert_eq!(p.admits(&short_code), Ok(()));
    }

    #[test]
    fn refusals_keep_their_messages() {
        assert_eq!(
            Refusal::Kind(IdentifierKind::Alpha).to_string(),
            "the pool does not allow ALPHA identifiers"
        );
        assert_eq!(
            Refusal::Operator("awcc".into()).to_string(),
            "the pool does not allow operator awcc"
        );
        assert_eq!(
            Refusal::Vanity.to_string(),
            "the pool may not hold vanity identifiers"
        );
    }

    fn kind() -> impl Strategy<Value = IdentifierKind> {
        prop::sample::select(IdentifierKind::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn admits_is_every_rule_and_the_refusal_is_the_first_that_fails(
            active: bool,
            kinds in prop::collection::vec(kind(), 0..3),
            operators in prop::collection::vec(prop::sample::select(vec!["roshan", "awcc", "mtn"]), 0..3),
            vanity_allowed: bool,
            k in kind(),
            op in prop::option::of(prop::sample::select(vec!["roshan", "awcc", "mtn"])),
            vanity: bool,
        ) {
            let mut p = pool(&kinds, &operators, vanity_allowed);
            p.active = active;
            let c = Candidate { kind: k, operator_id: op, vanity };
            let expected = if !active {
                Err(Refusal::PoolSuspended)
            } else if !kinds.contains(&k) {
                Err(Refusal::Kind(k))
            } else if op.is_some_and(|o| !operators.is_empty() && !operators.contains(&o)) {
                Err(Refusal::Operator(op.unwrap_or_default().to_owned()))
            } else if vanity && !vanity_allowed {
                Err(Refusal::Vanity)
            } else {
                Ok(())
            };
            prop_assert_eq!(p.admits(&c), expected);
        }
    }
}
