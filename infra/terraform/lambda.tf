# One Lambda per function crate (SPEC §9). Each gets the environment it
# reads (see the README's configuration table) and a role of its own.
locals {
  common_env = {
    # Lambda encrypts its environment at rest (KMS); the URL names the
    # service's login role, which is granted numbering_app only.
    DATABASE_URL         = var.database_url
    NUMBERING_DB_ROLE    = var.db_role
    NUMBERING_LOG_FORMAT = "json"
    NATS_URL             = var.nats_url
  }
  edge_env = {
    NUMBERING_JWT_ISSUER             = var.jwt_issuer
    NUMBERING_JWT_AUDIENCE           = var.jwt_audience
    NUMBERING_JWT_JWKS               = var.jwks_json
    NUMBERING_SENDER_ID_REGISTRY_URL = var.sender_id_registry_url
  }

  functions = {
    "portal-api" = {
      timeout = 10
      memory  = 256
      env     = local.edge_env
    }
    "admin-api" = {
      timeout = 60
      memory  = 512
      env = merge(local.edge_env, {
        NUMBERING_EXPORT_STORE  = "s3://${aws_s3_bucket.exports.bucket}/exports"
        NUMBERING_EXPORT_SIGNER = "kms:${aws_kms_key.export_signing.arn}"
      })
    }
    "validate-lease" = {
      timeout = 3
      memory  = 256
      env = {
        NUMBERING_LEASE_CACHE_TABLE = aws_dynamodb_table.lease_cache.name
      }
    }
    "lifecycle-sweeper" = {
      timeout = 55
      memory  = 256
      env = {
        NUMBERING_BILLING_URL = var.billing_url
      }
    }
    "import-s3" = {
      timeout = 900
      memory  = 1024
      env     = {}
    }
    "export-scheduled" = {
      timeout = 900
      memory  = 512
      env = {
        NUMBERING_EXPORT_STORE  = "s3://${aws_s3_bucket.exports.bucket}/exports"
        NUMBERING_EXPORT_SIGNER = "kms:${aws_kms_key.export_signing.arn}"
      }
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.functions
  name     = "${local.name}-${each.key}"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "vpc" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

resource "aws_lambda_function" "function" {
  for_each      = local.functions
  function_name = "${local.name}-${each.key}"
  role          = aws_iam_role.function[each.key].arn
  filename      = "${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip"
  handler       = "bootstrap"
  runtime       = "provided.al2023"
  architectures = ["arm64"]
  timeout       = each.value.timeout
  memory_size   = each.value.memory

  source_code_hash = filebase64sha256("${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip")

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }

  environment {
    variables = merge(local.common_env, each.value.env)
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = 90
}

# --- least privilege per function -----------------------------------------

# GetItem to read; PutItem for the fill after a Postgres fallback, which is
# conditional on the item's version (it only ever moves an item forward).
# Without it every identifier the relay has not projected since the table
# was made would miss DynamoDB and go to Postgres on every cold start.
resource "aws_iam_role_policy" "validate_lease_cache" {
  name = "lease-cache-read-and-fill"
  role = aws_iam_role.function["validate-lease"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["dynamodb:GetItem", "dynamodb:PutItem"]
      Resource = aws_dynamodb_table.lease_cache.arn
    }]
  })
}

resource "aws_iam_role_policy" "import_read" {
  name = "imports-read"
  role = aws_iam_role.function["import-s3"].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:GetObjectVersion"]
      Resource = "${aws_s3_bucket.imports.arn}/*"
    }]
  })
}

resource "aws_iam_role_policy" "export_write" {
  for_each = toset(["admin-api", "export-scheduled"])
  name     = "regulator-export"
  role     = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # write once: PutObject with its retention; no delete, no bypass
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:ListBucket"]
        Resource = [aws_s3_bucket.exports.arn, "${aws_s3_bucket.exports.arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Sign", "kms:GetPublicKey"]
        Resource = aws_kms_key.export_signing.arn
      }
    ]
  })
}

# --- triggers ---------------------------------------------------------------

# An object landing in the imports bucket runs the import (the handler
# pairs each file with its `.sig`, whichever arrives second).
resource "aws_lambda_permission" "imports_bucket" {
  statement_id  = "s3-object-created"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["import-s3"].function_name
  principal     = "s3.amazonaws.com"
  source_arn    = aws_s3_bucket.imports.arn
}

resource "aws_s3_bucket_notification" "imports" {
  bucket = aws_s3_bucket.imports.id
  lambda_function {
    lambda_function_arn = aws_lambda_function.function["import-s3"].arn
    events              = ["s3:ObjectCreated:*"]
  }
  depends_on = [aws_lambda_permission.imports_bucket]
}
