//! `NUMBERING_REGION`: the instance's region (`kbl`, `mzr`; unset: one
//! region, today's behaviour). Every deployable reads it here, once: a label
//! on every metric, a field on every log line, a detail of `/readyz` and
//! the producing region of every event envelope.

use std::{io::Write, sync::OnceLock};

use numbering_shared::Region;
use tracing_subscriber::fmt::MakeWriter;

/// The variable's name.
pub const VAR: &str = "NUMBERING_REGION";

/// `NUMBERING_REGION` from a lookup: `None` when unset or empty.
pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Region>, String> {
    match get(VAR).as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => Region::parse(r)
            .map(Some)
            .map_err(|e| format!("{VAR}: {e}")),
    }
}

/// This process's region, read from the environment once (an invalid value
/// reads as none here; the host's configuration refuses it at start).
pub fn current() -> Option<Region> {
    static REGION: OnceLock<Option<Region>> = OnceLock::new();
    *REGION.get_or_init(|| from_lookup(crate::config::env).ok().flatten())
}

/// Stderr for the log subscriber, each line tagged with the region: a
/// JSON line gains `"region":"kbl"` as its first field, a text line starts
/// with `region=kbl`. The subscriber writes each line with one `write_all`.
#[derive(Clone, Copy)]
pub struct TaggedStderr {
    pub json: bool,
}

impl<'a> MakeWriter<'a> for TaggedStderr {
    type Writer = Tagged;
    fn make_writer(&'a self) -> Tagged {
        Tagged {
            json: self.json,
            region: current(),
        }
    }
}

pub struct Tagged {
    json: bool,
    region: Option<Region>,
}

impl Write for Tagged {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        match self.region {
            None => err.write_all(buf)?,
            Some(r) => err.write_all(&tag(buf, r, self.json))?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `line` with the region as its first field.
fn tag(line: &[u8], region: Region, json: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 16);
    match (json, line.first()) {
        (true, Some(b'{')) => {
            out.extend_from_slice(format!("{{\"region\":\"{region}\"").as_bytes());
            if line.get(1) != Some(&b'}') {
                out.push(b',');
            }
            out.extend_from_slice(&line[1..]);
        }
        _ => {
            out.extend_from_slice(format!("region={region} ").as_bytes());
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_gains_the_region_as_its_first_field_and_stays_json() {
        let line = br#"{"level":"INFO","fields":{"message":"up"}}"#.to_vec();
        let tagged = tag(&line, Region::Mzr, true);
        let v: serde_json::Value = serde_json::from_slice(&tagged).unwrap();
        assert_eq!(v["region"], "mzr");
        assert_eq!(v["fields"]["message"], "up");
        let v: serde_json::Value = serde_json::from_slice(&tag(b"{}", Region::Kbl, true)).unwrap();
        assert_eq!(v["region"], "kbl");
        assert_eq!(
            tag(b"INFO up\n", Region::Kbl, false),
            b"region=kbl INFO up\n"
        );
    }

    #[test]
    fn unset_or_empty_is_no_region_and_anything_else_must_be_kbl_or_mzr() {
        let with = |v: Option<&str>| from_lookup(|_| v.map(str::to_owned));
        assert_eq!(with(None), Ok(None));
        assert_eq!(with(Some("")), Ok(None));
        assert_eq!(with(Some("kbl")), Ok(Some(Region::Kbl)));
        assert!(with(Some("eu-west-1")).unwrap_err().contains(VAR));
    }
}
