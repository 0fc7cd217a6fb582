# The hot path's lease cache: one item per identifier, written forward-only
# (conditional on the version) by the outbox relay's projection and by
# validate-lease's fills after a Postgres fallback, read by validate-lease. DynamoDB's own TTL on `ttl` removes stale items; the
# `valid_until` attribute is what reads trust.
resource "aws_dynamodb_table" "lease_cache" {
  # checkov:skip=CKV_AWS_28:a cache, rebuilt from Postgres (the system of record) by the relay's projection and validate-lease's fills; point-in-time recovery would restore stale leases
  name         = "${local.name}-lease-cache"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.main.arn
  }

  point_in_time_recovery {
    enabled = false # a cache: Postgres is the system of record
  }
}
