//! `numbering.v1.NumberingService` over tonic.

use numbering_proto::numbering::v1::{
    LookupRequest, LookupResponse, ValidateLeaseRequest, ValidateLeaseResponse, ValidationReason,
    numbering_service_server::{NumberingService, NumberingServiceServer},
};
use numbering_shared::{Identifier, Verdict};
use tonic::{Request, Response, Status};

use crate::tiers::{Unavailable, Validator};

/// The gRPC face of the hot path.
#[derive(Clone)]
pub struct HotPath {
    validator: Validator,
}

impl HotPath {
    pub fn new(validator: Validator) -> Self {
        Self { validator }
    }

    pub fn into_server(self) -> NumberingServiceServer<Self> {
        NumberingServiceServer::new(self)
    }
}

fn unavailable() -> Status {
    Status::unavailable("lease validation is unavailable; the message must not be sent")
}

pub(crate) fn reason(v: numbering_shared::ValidationReason) -> ValidationReason {
    use numbering_shared::ValidationReason as R;
    match v {
        R::Ok => ValidationReason::Ok,
        R::WrongTenant => ValidationReason::WrongTenant,
        R::LeaseSuspended => ValidationReason::LeaseSuspended,
        R::QuarantineActive => ValidationReason::QuarantineActive,
        R::NotRegistered => ValidationReason::NotRegistered,
    }
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// Lookup on the wire: the serving operator in fields 3-6 (what routing
/// and every client built before portability read), the porting in 7-11.
fn lookup_to_proto(l: numbering_store::Lookup) -> LookupResponse {
    LookupResponse {
        kind: l.kind,
        state: l.state,
        operator_id: l.operator_id.unwrap_or_default(),
        operator_name: l.operator_name.unwrap_or_default(),
        mcc: l.mcc.unwrap_or_default(),
        mnc: l.mnc.unwrap_or_default(),
        ported: l.ported,
        home_operator_id: l.home_operator_id.unwrap_or_default(),
        home_mcc: l.home_mcc.unwrap_or_default(),
        home_mnc: l.home_mnc.unwrap_or_default(),
        ported_at: l.ported_at.map(timestamp),
    }
}

fn to_proto(v: Verdict) -> ValidateLeaseResponse {
    ValidateLeaseResponse {
        allowed: v.allowed,
        reason: reason(v.reason) as i32,
        lease_id: v.lease_id.map(|l| l.to_string()).unwrap_or_default(),
        lease_expires_at: v.lease_expires_at.map(timestamp),
    }
}

#[tonic::async_trait]
impl NumberingService for HotPath {
    async fn validate_lease(
        &self,
        request: Request<ValidateLeaseRequest>,
    ) -> Result<Response<ValidateLeaseResponse>, Status> {
        let r = request.into_inner();
        match self.validator.validate(&r.identifier, &r.tenant_id).await {
            Ok(verdict) => Ok(Response::new(to_proto(verdict))),
            Err(Unavailable) => Err(unavailable()),
        }
    }

    async fn lookup(
        &self,
        request: Request<LookupRequest>,
    ) -> Result<Response<LookupResponse>, Status> {
        let r = request.into_inner();
        let identifier = Identifier::parse(&r.identifier)
            .map_err(|e| Status::invalid_argument(format!("identifier: {e}")))?;
        match self.validator.reader().lookup(&identifier).await {
            Ok(Some(l)) => Ok(Response::new(lookup_to_proto(l))),
            Ok(None) => Err(Status::not_found(format!(
                "{identifier} is not in inventory"
            ))),
            Err(Unavailable) => Err(Status::unavailable("lookup is unavailable")),
        }
    }
}
