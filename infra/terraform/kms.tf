# Signs the regulator export's manifest (KMS `Sign`, ECDSA P-256 with
# SHA-256). The public key (`GetPublicKey`) is what the regulator and
# `numbering export verify` check it with.
resource "aws_kms_key" "export_signing" {
  # checkov:skip=CKV_AWS_7:an asymmetric signing key cannot be rotated by KMS; a new key is a new verification key the regulator must be given (README)
  description              = "${local.name} regulator export manifest signing"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.key_admin_statement,
      {
        Sid       = "SignExports"
        Effect    = "Allow"
        Principal = { AWS = local.export_signer_roles }
        Action    = ["kms:Sign", "kms:GetPublicKey", "kms:DescribeKey"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "export_signing" {
  name          = "alias/${local.name}-export-signing"
  target_key_id = aws_kms_key.export_signing.key_id
}

# The stack's customer-managed key: the Lambdas' environments, the log
# groups, the database secret, the lease cache, the buckets, the failure
# queues and the alarm topic. Its policy names every use; IAM policies
# alone grant nothing on it beyond the account's administrators.
locals {
  key_admin_statement = {
    # the account's administrators manage the key (without this statement
    # a key can become unmanageable); they act through IAM policies
    Sid       = "AccountAdministers"
    Effect    = "Allow"
    Principal = { AWS = "arn:aws:iam::${var.account_id}:root" }
    Action    = "kms:*"
    Resource  = "*"
  }
  export_signer_roles = [
    aws_iam_role.function["admin-api"].arn,
    aws_iam_role.function["export-scheduled"].arn,
    aws_iam_role.worker_task.arn,
  ]
  function_roles = [for r in aws_iam_role.function : r.arn]
  # every role of the stack that reads or writes data under the key
  data_roles = concat(local.function_roles, [aws_iam_role.worker_task.arn, aws_iam_role.task_execution.arn], aws_iam_role.db_proxy[*].arn)
  via = {
    for s in ["secretsmanager", "dynamodb", "s3", "sqs", "lambda"] : s => "${s}.${var.region}.amazonaws.com"
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.name} data, environments and logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = 30
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.key_admin_statement,
      {
        # the roles use the key only through the services that hold their
        # data: the secret (Secrets Manager), the lease cache (DynamoDB),
        # the buckets (S3), the failure queues (SQS), the environments (Lambda)
        Sid       = "ServiceRolesThroughTheirServices"
        Effect    = "Allow"
        Principal = { AWS = local.data_roles }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = values(local.via) } }
      },
      {
        Sid       = "CloudWatchLogsOfThisStack"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:aws:logs:${var.region}:${var.account_id}:log-group:*" } }
      },
      {
        # EventBridge dead letters into the encrypted failure queues, and
        # CloudWatch alarms publishing to the encrypted SNS topic
        Sid       = "EventBridgeAndAlarmsPublish"
        Effect    = "Allow"
        Principal = { Service = ["events.amazonaws.com", "cloudwatch.amazonaws.com"] }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource  = "*"
        Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
      },
    ]
  })
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.name}"
  target_key_id = aws_kms_key.main.key_id
}
