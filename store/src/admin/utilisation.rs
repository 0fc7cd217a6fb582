//! How much of a lease contract is in use: its inventory counted by state,
//! for the whole contract and per block (`numbering_shared::contract`: the
//! identifiers sharing all but their last four characters, at most 10,000).

use numbering_shared::contract::block_prefix;
use uuid::Uuid;

use super::{Contract, Result, reference::contract_columns};
use crate::{
    Store,
    scope::{self, Scope},
};

/// Identifiers by state. `available` counts a lapsed reservation (it reads
/// as AVAILABLE everywhere); `reserved` is RESERVED + HELD, `leased`
/// ASSIGNED + SUSPENDED.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct StateCounts {
    pub total: i64,
    pub available: i64,
    pub reserved: i64,
    pub leased: i64,
    pub quarantined: i64,
    pub retired: i64,
}

impl StateCounts {
    fn add(&mut self, o: &StateCounts) {
        self.total += o.total;
        self.available += o.available;
        self.reserved += o.reserved;
        self.leased += o.leased;
        self.quarantined += o.quarantined;
        self.retired += o.retired;
    }
}

/// One block of a contract's range that holds inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockUsage {
    /// What its identifiers share (see `block_prefix`).
    pub prefix: String,
    /// Its first and last identifier within the contract's range.
    pub first: String,
    pub last: String,
    pub counts: StateCounts,
}

/// A contract's utilisation.
#[derive(Debug, Clone)]
pub struct Utilisation {
    pub contract: Contract,
    pub totals: StateCounts,
    /// Leases flagged for recall because the contract ended, still current.
    pub leases_to_recall: i64,
    /// The blocks that hold inventory, in identifier order.
    pub blocks: Vec<BlockUsage>,
}

#[derive(sqlx::FromRow)]
struct BlockRow {
    block: String,
    #[sqlx(flatten)]
    counts: StateCounts,
}

const BLOCKS: &str = "SELECT left(n.identifier, greatest(length(n.identifier) - 4, 0)) AS block, \
       count(*) AS total, \
       count(*) FILTER (WHERE n.state = 'AVAILABLE' \
         OR (n.state IN ('RESERVED', 'HELD') AND n.reserved_until <= now())) AS available, \
       count(*) FILTER (WHERE n.state IN ('RESERVED', 'HELD') AND n.reserved_until > now()) AS reserved, \
       count(*) FILTER (WHERE n.state IN ('ASSIGNED', 'SUSPENDED')) AS leased, \
       count(*) FILTER (WHERE n.state = 'QUARANTINED') AS quarantined, \
       count(*) FILTER (WHERE n.state = 'RETIRED') AS retired \
     FROM numbering.numbers n WHERE n.contract_id = $1 GROUP BY 1 ORDER BY 1";

impl Store {
    /// Contract `id`'s utilisation, or `None` if there is no such contract.
    pub async fn contract_utilisation(&self, id: Uuid) -> Result<Option<Utilisation>> {
        let mut tx = scope::begin(self, Scope::Platform).await?;
        let contract: Option<Contract> = sqlx::query_as(concat!(
            "SELECT ",
            contract_columns!(),
            " FROM numbering.lease_contracts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(contract) = contract else {
            tx.commit().await?;
            return Ok(None);
        };
        let rows: Vec<BlockRow> = sqlx::query_as(BLOCKS).bind(id).fetch_all(&mut *tx).await?;
        let leases_to_recall: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM numbering.leases l JOIN numbering.numbers n ON n.id = l.number_id \
             WHERE n.contract_id = $1 AND l.recall_at IS NOT NULL AND l.status IN ('ACTIVE', 'SUSPENDED')",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let (start, end) = &contract.spec.range;
        let mut totals = StateCounts::default();
        let blocks = rows
            .into_iter()
            .map(|r| {
                totals.add(&r.counts);
                let (first, last) = block_bounds(&r.block, start, end);
                BlockUsage {
                    prefix: r.block,
                    first,
                    last,
                    counts: r.counts,
                }
            })
            .collect();
        Ok(Some(Utilisation {
            contract,
            totals,
            leases_to_recall,
            blocks,
        }))
    }
}

/// The first and last identifier of the block `prefix` within the range
/// `start..=end` (identifiers of one length, compared as text).
fn block_bounds(prefix: &str, start: &str, end: &str) -> (String, String) {
    let rest = start.len().saturating_sub(prefix.len());
    let low = format!("{prefix}{}", "0".repeat(rest));
    let high = format!("{prefix}{}", "9".repeat(rest));
    debug_assert_eq!(block_prefix(&low), prefix);
    (low.max(start.to_owned()), high.min(end.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::block_bounds;

    #[test]
    fn a_block_is_clipped_to_the_contract_range() {
        assert_eq!(
            block_bounds("+9378000", "+93780000000", "+93780099999"),
            ("+93780000000".into(), "+93780009999".into())
        );
        assert_eq!(
            block_bounds("+9378009", "+93780000000", "+93780095000"),
            ("+93780090000".into(), "+93780095000".into())
        );
        assert_eq!(
            block_bounds("", "1000", "9999"),
            ("1000".into(), "9999".into())
        );
        assert_eq!(block_bounds("", "100", "199"), ("100".into(), "199".into()));
    }
}
