# What must stay up runs as the all-in-one host (`numbering serve`, the same
# binary as on-prem, from the repository's Dockerfile), two replicas:
# the outbox relay (LISTEN session + advisory lock: one publishes, the other
# stands by) projecting lease changes into the DynamoDB lease cache before
# it publishes the invalidation; the inbound JetStream consumers; the audit
# sealer, the scheduled chain verification, partition maintenance and
# archive. Its REST/gRPC port stays inside the VPC (health and metrics).
# The lifecycle sweep and the monthly export it would also run are safe to
# run twice (compare-and-swap; one export per period under an advisory
# lock), so the EventBridge-scheduled Lambdas and these replicas coexist.
locals {
  processes = {
    "worker" = { replicas = 2 }
  }
  worker_pool = 16
  worker_secrets = {
    DATABASE_CREDENTIALS = aws_secretsmanager_secret.db.arn
  }
  # no secret in the environment: the login comes through the task's
  # `secrets` (DATABASE_CREDENTIALS, below), injected by ECS at start
  worker_env = merge(local.edge_env, {
    DATABASE_URL                 = "postgres://${local.db_endpoint}:${var.db_port}/${var.db_name}?sslmode=verify-full&sslrootcert=${var.worker_db_ca_bundle_path}"
    NUMBERING_DB_ROLE            = var.db_role
    NUMBERING_DB_MAX_CONNECTIONS = tostring(local.worker_pool)
    NUMBERING_LOG_FORMAT         = "json"
    NATS_URL                     = var.nats_url
    OTEL_EXPORTER_OTLP_ENDPOINT  = "http://localhost:4318" # the ADOT sidecar
    OTEL_EXPORTER_OTLP_PROTOCOL  = "http/protobuf"
    OTEL_SERVICE_NAME            = "numbering-worker"
    NUMBERING_DEMO_DATA          = "false"
    NUMBERING_LISTEN             = "0.0.0.0:8080"
    NUMBERING_LEASE_CACHE_TABLE  = aws_dynamodb_table.lease_cache.name
    NUMBERING_BILLING_URL        = var.billing_url
    NUMBERING_EXPORT_STORE       = "s3://${aws_s3_bucket.exports.bucket}/exports"
    NUMBERING_EXPORT_SIGNER      = "kms:${aws_kms_key.export_signing.arn}"
    # partitions past 13 months go here (with their chain heads), then are
    # detached; without it the host keeps every partition attached
    NUMBERING_AUDIT_ARCHIVE_URI = "s3://${aws_s3_bucket.audit_archive.bucket}/audit"
  })
}

resource "aws_iam_role" "task_execution" {
  name = "${local.name}-task-execution"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "task_execution" {
  role       = aws_iam_role.task_execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

# ECS reads the database secret to inject it (`secrets`) at task start
resource "aws_iam_role_policy" "task_execution_secret" {
  name = "db-secret-inject"
  role = aws_iam_role.task_execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = aws_secretsmanager_secret.db.arn
    }]
  })
}

# the ADOT sidecar's X-Ray exporter
resource "aws_iam_role_policy_attachment" "worker_xray" {
  role       = aws_iam_role.worker_task.name
  policy_arn = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_iam_role" "worker_task" {
  name               = "${local.name}-worker"
  assume_role_policy = aws_iam_role.task_execution.assume_role_policy
}

resource "aws_iam_role_policy" "worker" {
  name = "worker"
  role = aws_iam_role.worker_task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DescribeTable"]
        Resource = aws_dynamodb_table.lease_cache.arn
      },
      {
        Effect = "Allow"
        # write once: a PutObject that carries its Object Lock retention
        # needs s3:PutObjectRetention too; no delete, no governance bypass
        Action   = ["s3:PutObject", "s3:PutObjectRetention", "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:ListBucket"]
        Resource = [aws_s3_bucket.exports.arn, "${aws_s3_bucket.exports.arn}/*", aws_s3_bucket.audit_archive.arn, "${aws_s3_bucket.audit_archive.arn}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Sign", "kms:GetPublicKey"]
        Resource = aws_kms_key.export_signing.arn
      }
    ]
  })
}

resource "aws_cloudwatch_log_group" "process" {
  for_each          = local.processes
  name              = "/ecs/${local.name}-${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_ecs_task_definition" "process" {
  for_each                 = local.processes
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.worker_task.arn
  runtime_platform {
    cpu_architecture        = "ARM64"
    operating_system_family = "LINUX"
  }
  # the export is assembled under /tmp before its upload: a task-local
  # volume there, the image's root file system read-only
  volume {
    name = "tmp"
  }
  container_definitions = jsonencode([
    {
      name                   = each.key
      image                  = var.container_image
      command                = ["serve"]
      essential              = true
      readonlyRootFilesystem = true
      mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp" }]
      environment = [
        for k, v in local.worker_env : { name = k, value = v }
      ]
      # the login, from Secrets Manager: never in the task definition
      secrets = [
        for k, v in local.worker_secrets : { name = k, valueFrom = v }
      ]
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.process[each.key].name
          awslogs-region        = var.region
          awslogs-stream-prefix = each.key
        }
      }
      portMappings = [{ containerPort = 8080 }]
      stopTimeout  = 30
      dependsOn    = [{ containerName = "otel-collector", condition = "START" }]
    },
    {
      # OTLP on localhost:4318 → X-Ray, as the Lambdas' collector layer
      name                   = "otel-collector"
      image                  = var.adot_collector_image
      command                = ["--config=/etc/ecs/ecs-default-config.yaml"]
      essential              = false
      readonlyRootFilesystem = true
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.process[each.key].name
          awslogs-region        = var.region
          awslogs-stream-prefix = "otel-collector"
        }
      }
    },
  ])
}

resource "aws_ecs_service" "process" {
  for_each        = local.processes
  name            = "${local.name}-${each.key}"
  cluster         = var.ecs_cluster_arn
  task_definition = aws_ecs_task_definition.process[each.key].arn
  desired_count   = each.value.replicas
  launch_type     = "FARGATE"
  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }
}
