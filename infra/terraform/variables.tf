variable "region" {
  type    = string
  default = "eu-central-1"
}

variable "environment" {
  description = "Deployment name, e.g. staging or production."
  type        = string
}

variable "name_prefix" {
  type    = string
  default = "numbering"
}

variable "lambda_artifacts_dir" {
  description = "Where `cargo lambda build --release --arm64 --output-format zip` left its zips (target/lambda)."
  type        = string
  default     = "../../target/lambda"
}

variable "subnet_ids" {
  description = "Private subnets with a route to Postgres and NATS."
  type        = list(string)
}

variable "security_group_ids" {
  type = list(string)
}

variable "database_url" {
  description = "DATABASE_URL of the service's login role (granted numbering_app; migrations run separately with the owner role)."
  type        = string
  sensitive   = true
}

variable "db_role" {
  description = "Role the service sets after connecting (NUMBERING_DB_ROLE)."
  type        = string
  default     = "numbering_app"
}

variable "nats_url" {
  type = string
}

variable "jwt_issuer" {
  type = string
}

variable "jwt_audience" {
  type    = string
  default = "numbering"
}

variable "jwks_json" {
  description = "The identity provider's JWKS (NUMBERING_JWT_JWKS)."
  type        = string
}

variable "billing_url" {
  description = "billing-service gRPC endpoint (PreviewCharge before auto-renewals)."
  type        = string
}

variable "sender_id_registry_url" {
  description = "sender-id-registry-service gRPC endpoint (IsVerified before ALPHA assigns)."
  type        = string
}

variable "container_image" {
  description = "The numbering host image (Dockerfile at the repository root) the worker service runs."
  type        = string
}

variable "ecs_cluster_arn" {
  type = string
}

variable "regulator_retention_years" {
  description = "Object Lock COMPLIANCE retention of regulator exports and archived audit partitions."
  type        = number
  default     = 7
}
