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

variable "account_id" {
  description = "The AWS account the stack is deployed into (the key policies name it; no STS call is made for it)."
  type        = string
}

variable "vpc_id" {
  description = "The VPC of the private subnets."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (no route to the internet needed) with a route to Postgres and NATS."
  type        = list(string)
}

variable "route_table_ids" {
  description = "The private subnets' route tables: the S3 and DynamoDB gateway endpoints are added to them."
  type        = list(string)
}

variable "vpc_endpoints" {
  description = "Create the VPC endpoints (gateway: S3, DynamoDB; interface: KMS, Secrets Manager, CloudWatch Logs, X-Ray, ECR). false only when the subnets already reach AWS through a NAT gateway (see README)."
  type        = bool
  default     = true
}

variable "internal_egress" {
  description = "Other services inside the network the functions and the worker call, by name: port and CIDR blocks (NATS 4222 for the worker; billing and the sender-id registry for the functions)."
  type = map(object({
    port        = number
    cidr_blocks = list(string)
  }))
  default = {}
}

variable "monitoring_cidr_blocks" {
  description = "Who may reach the worker's HTTP port (health, /metrics)."
  type        = list(string)
  default     = []
}

# --- Postgres -----------------------------------------------------------------

variable "db_host" {
  description = "The Postgres (RDS / Aurora) writer endpoint."
  type        = string
}

variable "db_port" {
  type    = number
  default = 5432
}

variable "db_name" {
  type    = string
  default = "numbering"
}

variable "db_security_group_id" {
  description = "The database's security group: an ingress rule from the proxy (or the functions, without the proxy) is added to it."
  type        = string
}

variable "db_instance_identifier" {
  description = "The RDS instance the proxy fronts (set this or db_cluster_identifier)."
  type        = string
  default     = null
}

variable "db_cluster_identifier" {
  description = "The Aurora cluster the proxy fronts (set this or db_instance_identifier)."
  type        = string
  default     = null
}

variable "db_max_connections" {
  description = "The database's max_connections; the functions' reserved concurrency times their pools must fit in it (README: the arithmetic)."
  type        = number
  default     = 500
}

variable "rds_proxy" {
  description = "Put an RDS Proxy in front of the database (TLS required, credentials from the secret)."
  type        = bool
  default     = true
}

variable "db_username" {
  description = "The service's login role (granted numbering_app; migrations run separately with the owner role)."
  type        = string
  default     = "numbering_service"
}

variable "db_password" {
  description = "The login's password, written into the Secrets Manager secret when the secret is made or db_password_version changes (write-only: never in the plan or the state); pass it as TF_VAR_db_password. After a rotation the secret holds the rotated one."
  type        = string
  nullable    = false
  sensitive   = true
  ephemeral   = true
}

variable "db_password_version" {
  description = "Bump to write db_password into the secret again (write-only attributes are only sent when this changes)."
  type        = number
  default     = 1
}

variable "db_secret_rotation_lambda_arn" {
  description = "The Secrets Manager rotation function for PostgreSQL (alternating users); null: no automatic rotation."
  type        = string
  default     = null
}

variable "db_secret_rotation_days" {
  type    = number
  default = 30
}

variable "db_ca_bundle_path" {
  description = "Where the RDS CA bundle is inside the Lambda zips (`cargo lambda build --include`, /var/task) and the image: sslmode=verify-full checks the server against it."
  type        = string
  default     = "/var/task/rds-ca-bundle.pem"
}

variable "worker_db_ca_bundle_path" {
  description = "The same bundle in the worker image (Dockerfile)."
  type        = string
  default     = "/etc/numbering/rds-ca-bundle.pem"
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

variable "jwks_url" {
  description = "The identity provider's JWKS URL (NUMBERING_JWT_JWKS_URL): keys are fetched and refreshed, so a rotation needs no apply. The default way."
  type        = string
  default     = null
}

variable "jwks_json" {
  description = "Fallback: the JWKS inline (NUMBERING_JWT_JWKS), used only when jwks_url is null; a key rotation then needs an apply."
  type        = string
  default     = null
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

# --- operations ------------------------------------------------------------------

variable "alarm_topic_subscribers" {
  description = "E-mail addresses (or leave empty and subscribe the on-call tool to the `alarms` output topic)."
  type        = list(string)
  default     = []
}

variable "api_throttle_rate" {
  description = "API Gateway stage: steady requests per second."
  type        = number
  default     = 200
}

variable "api_throttle_burst" {
  type    = number
  default = 400
}

variable "adot_collector_layer_arn" {
  description = "The AWS Distro for OpenTelemetry collector Lambda layer (arm64) of the region: it receives the functions' OTLP on localhost:4318 and sends the traces to X-Ray. null: the layer of the default version in var.region."
  type        = string
  default     = null
}

variable "adot_collector_image" {
  description = "The ADOT collector image for the worker's sidecar, mirrored into the account's ECR (the VPC has no internet path)."
  type        = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}
