//! The two regions the service runs in (`NUMBERING_REGION`).

use std::fmt;

/// A region: `kbl` or `mzr`. The NATS cluster of a region carries its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    Kbl,
    Mzr,
}

/// Not `kbl` or `mzr`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}: expected kbl or mzr")]
pub struct UnknownRegion(pub String);

impl Region {
    pub const ALL: [Region; 2] = [Region::Kbl, Region::Mzr];

    pub fn parse(s: &str) -> Result<Self, UnknownRegion> {
        match s {
            "kbl" => Ok(Self::Kbl),
            "mzr" => Ok(Self::Mzr),
            other => Err(UnknownRegion(other.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kbl => "kbl",
            Self::Mzr => "mzr",
        }
    }

    /// The region that holds this one's mirrors.
    pub fn other(self) -> Self {
        match self {
            Self::Kbl => Self::Mzr,
            Self::Mzr => Self::Kbl,
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_regions_parse_and_each_names_the_other() {
        for r in Region::ALL {
            assert_eq!(Region::parse(r.as_str()), Ok(r));
            assert_eq!(r.other().other(), r);
        }
        assert!(Region::parse("KBL").is_err());
        assert!(Region::parse("").is_err());
    }
}
