# MNO / ATRA lease files land here with their detached `.sig`; the
# import-s3 function is notified of every new object (see lambda.tf).
resource "aws_s3_bucket" "imports" {
  bucket = "${local.name}-lease-imports"
}

resource "aws_s3_bucket_public_access_block" "imports" {
  bucket                  = aws_s3_bucket.imports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "imports" {
  bucket = aws_s3_bucket.imports.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Regulator exports: written once, Object Lock in COMPLIANCE mode (nobody,
# root included, can delete or shorten a locked version before its
# retain-until date). The service sets the retention per object; the
# bucket default is the same, as a floor.
resource "aws_s3_bucket" "exports" {
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

resource "aws_s3_bucket_public_access_block" "exports" {
  bucket                  = aws_s3_bucket.exports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Audit partitions older than 13 months, with their chain heads: cold,
# write-once, kept 7 years.
resource "aws_s3_bucket" "audit_archive" {
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
  }
}

resource "aws_s3_bucket_public_access_block" "audit_archive" {
  bucket                  = aws_s3_bucket.audit_archive.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
