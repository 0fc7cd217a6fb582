//! The streams with two regions (`NUMBERING_REGION` set): each of the five
//! streams is an R1 stream placed in one region's NATS cluster (the region
//! of the relay that first created it; a later relay keeps that placement),
//! plus a mirror, `<NAME>_MIRROR`, placed in the other region's cluster.
//! The NATS clusters carry the regions' names (`kbl`, `mzr`).
//!
//! Why: with nats-server 2.9 and one server per region, a stream's replicas
//! come from one cluster, so a stream that must outlive a region is two
//! streams (tests/support/regions.rs records what 2.9 allows). Production
//! runs three servers per region: the origin is then R3 in its region, its
//! mirror R3 in the other.
//!
//! The loss of a region's NATS:
//! - the origin's region: publishing fails ("no stream"), the events wait
//!   in the outbox (Postgres, replicated) and are published once, by id
//!   (`Nats-Msg-Id` = event id, duplicates dropped), when it returns; the
//!   mirror keeps everything published before, for readers in the other
//!   region (durable consumers made beforehand, direct gets);
//! - the mirror's region: publishing goes on; the mirror catches up when
//!   the region returns;
//! - either way no stream or consumer can be created or changed meanwhile
//!   (the two-peer meta group has no leader), so the relay creates the
//!   streams when it starts and only publishes afterwards.

use anyhow::{Context as _, Result, bail};
use async_nats::jetstream::{
    self, ErrorCode,
    context::GetStreamErrorKind,
    stream::{self, Placement, Source},
};
use numbering_shared::Region;

use crate::{STREAMS, StreamSpec};

/// The mirror of `stream` in the other region.
pub fn mirror_name(stream: &str) -> String {
    format!("{stream}_MIRROR")
}

/// Creates (or updates) each stream and its mirror, as described above.
pub async fn ensure_regional_streams(js: &jetstream::Context, region: Region) -> Result<()> {
    for spec in STREAMS {
        let home = ensure_origin(js, &spec, region).await?;
        ensure_mirror(js, &spec, home.other()).await?;
    }
    Ok(())
}

/// The origin stream, placed in `region` unless it already lives elsewhere;
/// returns the region it lives in.
async fn ensure_origin(
    js: &jetstream::Context,
    spec: &StreamSpec,
    region: Region,
) -> Result<Region> {
    let placed = match js.get_stream(spec.name).await {
        Ok(existing) => {
            let info = existing.cached_info();
            match info.cluster.as_ref().and_then(|c| c.name.as_deref()) {
                Some(name) => Region::parse(name).with_context(|| {
                    format!("stream {} lives in NATS cluster {name:?}", spec.name)
                })?,
                None => bail!(
                    "stream {} reports no cluster: is NATS clustered?",
                    spec.name
                ),
            }
        }
        Err(e) if not_found(e.kind()) => region,
        Err(e) => return Err(e).with_context(|| format!("reading stream {}", spec.name)),
    };
    let config = stream::Config {
        placement: Some(placement(placed)),
        ..spec.config()
    };
    js.create_or_update_stream(config)
        .await
        .with_context(|| format!("creating or updating stream {} in {placed}", spec.name))?;
    Ok(placed)
}

async fn ensure_mirror(js: &jetstream::Context, spec: &StreamSpec, region: Region) -> Result<()> {
    let name = mirror_name(spec.name);
    let config = stream::Config {
        name: name.clone(),
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        max_age: spec.max_age,
        mirror: Some(Source {
            name: spec.name.to_owned(),
            ..Default::default()
        }),
        placement: Some(placement(region)),
        // direct gets served by the mirror too: readable in its region alone
        allow_direct: true,
        mirror_direct: true,
        description: Some(format!("{} mirrored into {region}", spec.name)),
        ..Default::default()
    };
    js.create_or_update_stream(config)
        .await
        .with_context(|| format!("creating or updating mirror {name} in {region}"))?;
    Ok(())
}

fn placement(region: Region) -> Placement {
    Placement {
        cluster: Some(region.as_str().to_owned()),
        tags: Vec::new(),
    }
}

fn not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}
