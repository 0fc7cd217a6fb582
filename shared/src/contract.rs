//! The lease-contract lifecycle: ACTIVE ⇄ SUSPENDED → ENDED, the table of
//! [`CONTRACT_RULES`], and what "a block" of a contract is.
//!
//! What each status means for the contract's identifiers (the policy the
//! store carries out, with the identifier transitions of
//! [`crate::lifecycle::RULES`]):
//! - **SUSPENDED**: nothing of it is newly reserved (`CONTRACT_SUSPENDED`;
//!   browsing and "reserve any" skip it); current reservations and leases
//!   are untouched. Resuming reverses exactly that.
//! - **ENDED** (final): AVAILABLE and QUARANTINED identifiers are retired
//!   (`retire`), live reservations cancelled (`cancel`) and their
//!   identifiers retired, all in the ending transaction; leased ones
//!   (ASSIGNED, SUSPENDED) are flagged, not revoked: they are never
//!   auto-renewed, the tenant's lease view shows `contract_ended` and
//!   `recall_at` (the term end), and the sweeper recalls them then
//!   (`recall`, then `retire`).

use std::fmt;
use std::str::FromStr;

use crate::lifecycle::UnknownName;

/// The status of a lease contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractStatus {
    /// Its identifiers may be reserved and leased.
    Active,
    /// Nothing of it is newly reserved; what is held stays held.
    Suspended,
    /// Over for good: its free identifiers retired, its leases recalled at term end.
    Ended,
}

impl ContractStatus {
    pub const ALL: [ContractStatus; 3] = [Self::Active, Self::Suspended, Self::Ended];

    /// The stable wire and database name, e.g. `ACTIVE`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Suspended => "SUSPENDED",
            Self::Ended => "ENDED",
        }
    }
}

impl fmt::Display for ContractStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContractStatus {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownName::new("contract status", s))
    }
}

/// A change of a contract's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractAction {
    /// ACTIVE → SUSPENDED.
    Suspend,
    /// SUSPENDED → ACTIVE.
    Resume,
    /// ACTIVE | SUSPENDED → ENDED.
    End,
}

impl ContractAction {
    pub const ALL: [ContractAction; 3] = [Self::Suspend, Self::Resume, Self::End];

    /// The stable name, e.g. `suspend`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::End => "end",
        }
    }

    /// The event published when it happens.
    #[must_use]
    pub const fn event_type(self) -> &'static str {
        match self {
            Self::Suspend => "contract.suspended.v1",
            Self::Resume => "contract.resumed.v1",
            Self::End => "contract.ended.v1",
        }
    }

    /// The audit trail's name of it, e.g. `contract.suspended`.
    #[must_use]
    pub const fn audit_action(self) -> &'static str {
        match self {
            Self::Suspend => "contract.suspended",
            Self::Resume => "contract.resumed",
            Self::End => "contract.ended",
        }
    }

    /// This action's row of [`CONTRACT_RULES`].
    #[must_use]
    pub fn rule(self) -> &'static ContractRule {
        &CONTRACT_RULES[self as usize]
    }
}

impl fmt::Display for ContractAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the contract table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractRule {
    pub action: ContractAction,
    pub from: &'static [ContractStatus],
    pub to: ContractStatus,
}

use ContractStatus::{Active, Ended, Suspended};

/// The contract lifecycle, one row per action, in declaration order.
pub const CONTRACT_RULES: [ContractRule; 3] = [
    ContractRule {
        action: ContractAction::Suspend,
        from: &[Active],
        to: Suspended,
    },
    ContractRule {
        action: ContractAction::Resume,
        from: &[Suspended],
        to: Active,
    },
    ContractRule {
        action: ContractAction::End,
        from: &[Active, Suspended],
        to: Ended,
    },
];

/// An action the table does not allow from the contract's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a contract that is {}", from.as_str().to_ascii_lowercase())]
pub struct InvalidContractTransition {
    pub from: ContractStatus,
    pub action: ContractAction,
}

/// The status `action` leads to from `from`.
///
/// # Errors
///
/// [`InvalidContractTransition`] when the table has no row for it.
pub fn next_status(
    from: ContractStatus,
    action: ContractAction,
) -> Result<ContractStatus, InvalidContractTransition> {
    let rule = action.rule();
    if rule.from.contains(&from) {
        Ok(rule.to)
    } else {
        Err(InvalidContractTransition { from, action })
    }
}

/// How many identifiers a block holds at most: a contract's range is
/// reported in blocks of 10,000 consecutive identifiers.
pub const BLOCK_SIZE: u32 = 10_000;

/// The digits a block's identifiers share: the canonical identifier without
/// its last four characters (`+9378000` for `+93780001234`; empty for a
/// short code of four digits or fewer, whose range is one block).
#[must_use]
pub fn block_prefix(identifier: &str) -> &str {
    let keep = identifier.len().saturating_sub(4);
    identifier.get(..keep).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_are_in_declaration_order_one_per_action() {
        for (i, a) in ContractAction::ALL.into_iter().enumerate() {
            assert_eq!(CONTRACT_RULES[i].action, a);
            assert_eq!(a as usize, i);
        }
    }

    #[test]
    fn suspend_resume_and_end_move_only_from_their_sources() {
        use ContractAction::*;
        let table = [
            (Active, Suspend, Some(Suspended)),
            (Active, Resume, None),
            (Active, End, Some(Ended)),
            (Suspended, Suspend, None),
            (Suspended, Resume, Some(Active)),
            (Suspended, End, Some(Ended)),
            (Ended, Suspend, None),
            (Ended, Resume, None),
            (Ended, End, None),
        ];
        for (from, action, to) in table {
            assert_eq!(next_status(from, action).ok(), to, "{from} {action}");
        }
        assert_eq!(
            next_status(Ended, Resume).unwrap_err().to_string(),
            "cannot resume a contract that is ended"
        );
    }

    #[test]
    fn statuses_parse_from_their_names_only() {
        for s in ContractStatus::ALL {
            assert_eq!(s.as_str().parse::<ContractStatus>(), Ok(s));
        }
        assert!("active".parse::<ContractStatus>().is_err());
    }

    #[test]
    fn a_block_is_ten_thousand_identifiers_sharing_a_prefix() {
        assert_eq!(block_prefix("+93780001234"), "+9378000");
        assert_eq!(block_prefix("+93780009999"), "+9378000");
        assert_eq!(block_prefix("+93780010000"), "+9378001");
        assert_eq!(block_prefix("12345"), "1");
        assert_eq!(block_prefix("1000"), "");
        assert_eq!(block_prefix("100"), "");
        assert_eq!(10u32.pow(4), BLOCK_SIZE);
    }
}
