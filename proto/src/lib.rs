//! Generated protobuf and gRPC code. One module per protobuf package; the
//! wire contract lives in the `.proto` files beside this crate.

#![allow(clippy::all, missing_docs, unreachable_pub)]

/// `numbering.v1`: the service this system offers (SPEC §11).
pub mod numbering {
    pub mod v1 {
        tonic::include_proto!("numbering.v1");
    }
}

/// `billing.v1`: billing-service's PreviewCharge, called before an auto-renewal.
pub mod billing {
    pub mod v1 {
        tonic::include_proto!("billing.v1");
    }
}

/// `senderid.v1`: sender-id-registry-service's IsVerified, called before an ALPHA assign.
pub mod senderid {
    pub mod v1 {
        tonic::include_proto!("senderid.v1");
    }
}

/// The encoded `FileDescriptorSet` of every package here, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
