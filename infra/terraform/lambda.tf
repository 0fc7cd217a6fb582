# One Lambda per function crate (SPEC §9). Each gets the environment it
# reads (see the README's configuration table), a role of its own, a
# reserved concurrency and a Postgres pool sized together (README: the
# arithmetic), and, for the asynchronous ones, a queue its failures land in.
locals {
  # No secret here: the URL names the host (the proxy), the database and
  # the TLS check; the login and its password are read once at init from
  # the secret (DATABASE_URL_SECRET_ARN).
  database_url = "postgres://${local.db_endpoint}:${var.db_port}/${var.db_name}?sslmode=verify-full&sslrootcert=${var.db_ca_bundle_path}"
  common_env = {
    DATABASE_URL            = local.database_url
    DATABASE_URL_SECRET_ARN = aws_secretsmanager_secret.db.arn
    NUMBERING_DB_ROLE       = var.db_role
    NUMBERING_LOG_FORMAT    = "json"
    # OpenTelemetry (read by the OTLP exporter): spans go to the ADOT
    # collector layer on localhost, which sends them to X-Ray
    OTEL_EXPORTER_OTLP_ENDPOINT = "http://localhost:4318"
    OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf"
  }
  # the identity provider's keys: by URL (refreshed, rotation needs no
  # apply); the inline JWKS only as the fallback
  jwks_env = var.jwks_url != null ? { NUMBERING_JWT_JWKS_URL = var.jwks_url } : { NUMBERING_JWT_JWKS = coalesce(var.jwks_json, "{\"keys\":[]}") }
  edge_env = merge(local.jwks_env, {
    NUMBERING_JWT_ISSUER             = var.jwt_issuer
    NUMBERING_JWT_AUDIENCE           = var.jwt_audience
    NUMBERING_SENDER_ID_REGISTRY_URL = var.sender_id_registry_url
  })

  # concurrency: reserved concurrent executions (also the most that run at
  # once); pool: NUMBERING_DB_MAX_CONNECTIONS of each execution environment
  functions = {
    "portal-api" = {
      timeout     = 10
      memory      = 256
      concurrency = 50
      pool        = 2
      async       = false
      env         = local.edge_env
    }
    "admin-api" = {
      timeout     = 60
      memory      = 512
      concurrency = 10
      pool        = 2
      async       = false
      env = merge(local.edge_env, {
        NUMBERING_EXPORT_STORE  = "s3://${aws_s3_bucket.exports.bucket}/exports"
        NUMBERING_EXPORT_SIGNER = "kms:${aws_kms_key.export_signing.arn}"
      })
    }
    "validate-lease" = {
      timeout     = 3
      memory      = 256
      concurrency = 100
      pool        = 2
      async       = false
      env = {
        NUMBERING_LEASE_CACHE_TABLE = aws_dynamodb_table.lease_cache.name
      }
    }
    "lifecycle-sweeper" = {
      timeout     = 55
      memory      = 256
      concurrency = 1
      pool        = 4
      async       = true
      env = {
        NUMBERING_BILLING_URL = var.billing_url
      }
    }
    "import-s3" = {
      timeout     = 900
      memory      = 1024
      concurrency = 2
      pool        = 2
      async       = true
      env         = {}
    }
    "export-scheduled" = {
      timeout     = 900
      memory      = 512
      concurrency = 1
      pool        = 4
      async       = true
      env = {
        NUMBERING_EXPORT_STORE  = "s3://${aws_s3_bucket.exports.bucket}/exports"
        NUMBERING_EXPORT_SIGNER = "kms:${aws_kms_key.export_signing.arn}"
      }
    }
  }
  async_functions = toset([for k, f in local.functions : k if f.async])
  # each function's whole environment
  function_env = {
    for k, f in local.functions : k => merge(local.common_env, f.env, {
      NUMBERING_DB_MAX_CONNECTIONS = tostring(f.pool)
      OTEL_SERVICE_NAME            = "numbering-${k}"
    })
  }

  # Postgres connections the service can hold at once: every Lambda
  # environment that may run, times its pool, plus the worker replicas
  db_connections_lambdas = sum([for f in values(local.functions) : f.concurrency * f.pool])
  db_connections_worker  = local.processes.worker.replicas * local.worker_pool
  db_connections_total   = local.db_connections_lambdas + local.db_connections_worker
  # what the service may use: the proxy's share of max_connections, less
  # what is kept for migrations, operators and RDS itself
  db_connections_budget = floor(var.db_max_connections * local.proxy_max_connections_percent / 100) - local.db_connections_reserved

  adot_layer_arn = coalesce(var.adot_collector_layer_arn, "arn:aws:lambda:${var.region}:901920570463:layer:aws-otel-collector-arm64-ver-0-102-1:1")
}

# the names alone, so that the roles (which the key policies name) do not
# depend on what the functions' settings reference (the key, the table)
locals {
  function_names = toset(["portal-api", "admin-api", "validate-lease", "lifecycle-sweeper", "import-s3", "export-scheduled"])
}

resource "aws_iam_role" "function" {
  for_each = local.function_names
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
  for_each   = local.function_names
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# the ADOT collector's X-Ray exporter (PutTraceSegments takes no resource)
resource "aws_iam_role_policy_attachment" "xray" {
  for_each   = local.function_names
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

# the database secret, read once at init (decrypted through the key policy)
resource "aws_iam_role_policy" "db_secret" {
  for_each = local.function_names
  name     = "db-secret-read"
  role     = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = aws_secretsmanager_secret.db.arn
    }]
  })
}

resource "aws_lambda_function" "function" {
  # checkov:skip=CKV_AWS_116:asynchronous failures go to an on-failure destination (SQS, aws_lambda_function_event_invoke_config), which keeps the error with the event; the synchronous ones answer their caller
  # checkov:skip=CKV_AWS_272:the zips are built and deployed by the same pipeline from a pinned commit; a Signer profile is the platform's choice, not this stack's
  for_each                       = local.functions
  function_name                  = "${local.name}-${each.key}"
  role                           = aws_iam_role.function[each.key].arn
  filename                       = "${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip"
  handler                        = "bootstrap"
  runtime                        = "provided.al2023"
  architectures                  = ["arm64"]
  timeout                        = each.value.timeout
  memory_size                    = each.value.memory
  reserved_concurrent_executions = each.value.concurrency
  kms_key_arn                    = aws_kms_key.main.arn
  layers                         = [local.adot_layer_arn]

  source_code_hash = filebase64sha256("${var.lambda_artifacts_dir}/${each.key}/bootstrap.zip")

  vpc_config {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.functions.id]
  }

  tracing_config {
    mode = "Active"
  }

  logging_config {
    log_format = "Text" # the functions already write JSON lines
    log_group  = aws_cloudwatch_log_group.function[each.key].name
  }

  environment {
    variables = local.function_env[each.key]
  }

  lifecycle {
    precondition {
      condition     = local.db_connections_total <= local.db_connections_budget
      error_message = "The functions and the worker may open ${local.db_connections_total} Postgres connections, more than the ${local.db_connections_budget} db_max_connections leaves them (README: the arithmetic)."
    }
    precondition {
      condition     = var.jwks_url != null || var.jwks_json != null
      error_message = "Set jwks_url (or, as a fallback, jwks_json)."
    }
  }
}

resource "aws_cloudwatch_log_group" "function" {
  for_each          = local.functions
  name              = "/aws/lambda/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
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
  statement_id   = "s3-object-created"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.function["import-s3"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.imports.arn
  source_account = var.account_id
}

resource "aws_s3_bucket_notification" "imports" {
  bucket = aws_s3_bucket.imports.id
  lambda_function {
    lambda_function_arn = aws_lambda_function.function["import-s3"].arn
    events              = ["s3:ObjectCreated:*"]
  }
  depends_on = [aws_lambda_permission.imports_bucket]
}
