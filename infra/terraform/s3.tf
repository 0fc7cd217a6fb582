# Every bucket: encrypted with the stack's key (the access-log bucket with
# S3's own, which server access logging requires), public access blocked,
# TLS only, its access logged to the access-log bucket.
locals {
  data_buckets = {
    imports       = aws_s3_bucket.imports
    exports       = aws_s3_bucket.exports
    audit_archive = aws_s3_bucket.audit_archive
  }
}

# MNO / ATRA lease files land here with their detached `.sig`; the
# import-s3 function is notified of every new object (see lambda.tf).
resource "aws_s3_bucket" "imports" {
  # checkov:skip=CKV_AWS_144:the lease files are copies of what the MNO/ATRA keep; once imported, Postgres holds the result
  bucket = "${local.name}-lease-imports"
}

resource "aws_s3_bucket_versioning" "imports" {
  bucket = aws_s3_bucket.imports.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "imports" {
  bucket = aws_s3_bucket.imports.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Regulator exports: written once, Object Lock in COMPLIANCE mode (nobody,
# root included, can delete or shorten a locked version before its
# retain-until date). The service sets the retention per object; the
# bucket default is the same, as a floor.
resource "aws_s3_bucket" "exports" {
  # checkov:skip=CKV_AWS_144:a second region is the platform's disaster-recovery decision; Object Lock COMPLIANCE already keeps every version for its retention
  # checkov:skip=CKV2_AWS_62:nothing reacts to a new export; the service records each one in Postgres
  bucket              = "${local.name}-regulator-exports"
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "exports" {
  bucket = aws_s3_bucket.exports.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "exports" {
  bucket = aws_s3_bucket.exports.id
  rule {
    default_retention {
      mode  = "COMPLIANCE"
      years = var.regulator_retention_years
    }
  }
  depends_on = [aws_s3_bucket_versioning.exports]
}

resource "aws_s3_bucket_lifecycle_configuration" "exports" {
  bucket = aws_s3_bucket.exports.id
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# Audit partitions older than 13 months, with their chain heads: cold,
# write-once, kept 7 years.
resource "aws_s3_bucket" "audit_archive" {
  # checkov:skip=CKV_AWS_144:a second region is the platform's disaster-recovery decision; Object Lock COMPLIANCE already keeps every version for its retention
  # checkov:skip=CKV2_AWS_62:nothing reacts to an archived partition; the service records each one in Postgres
  bucket              = "${local.name}-audit-archive"
  object_lock_enabled = true
}

resource "aws_s3_bucket_versioning" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_object_lock_configuration" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  rule {
    default_retention {
      mode  = "COMPLIANCE"
      years = var.regulator_retention_years
    }
  }
  depends_on = [aws_s3_bucket_versioning.audit_archive]
}

resource "aws_s3_bucket_lifecycle_configuration" "audit_archive" {
  bucket = aws_s3_bucket.audit_archive.id
  rule {
    id     = "cold"
    status = "Enabled"
    filter {}
    transition {
      days          = 1
      storage_class = "DEEP_ARCHIVE"
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

# --- shared by the data buckets ----------------------------------------------

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  for_each = local.data_buckets
  bucket   = each.value.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  for_each                = local.data_buckets
  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_logging" "data" {
  for_each      = local.data_buckets
  bucket        = each.value.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "${each.key}/"
  # S3 checks that the log delivery may write there (the bucket policy)
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_s3_bucket_policy" "data" {
  for_each = local.data_buckets
  bucket   = each.value.id
  policy   = local.tls_only_policy[each.key]
}

# --- the access-log bucket ------------------------------------------------------

resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_18:the access-log bucket itself; logging it into itself would loop
  # checkov:skip=CKV_AWS_144:access logs are kept in the region they describe
  # checkov:skip=CKV_AWS_145:S3 server access logging delivers only to SSE-S3 buckets
  # checkov:skip=CKV2_AWS_62:nothing reacts to access logs
  bucket = "${local.name}-access-logs"
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

locals {
  tls_only_policy = {
    for k, b in merge(local.data_buckets, { access_logs = aws_s3_bucket.access_logs }) : k => jsonencode({
      Version                                           = "2012-10-17"
      Statement = concat([{
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [b.arn, "${b.arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
        }], k != "access_logs" ? [] : [{
        Sid       = "ServerAccessLogs"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.amazonaws.com" }
        Action    = "s3:PutObject"
        Resource  = "${b.arn}/*"
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      }])
    })
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  policy = local.tls_only_policy.access_logs
}
