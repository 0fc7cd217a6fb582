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

/// The encoded `FileDescriptorSet` of `numbering.v1` and the files it
/// imports, for gRPC server reflection: the packages of the services this
/// system calls are left out, as it does not serve them.
pub const NUMBERING_FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/numbering.bin"));
