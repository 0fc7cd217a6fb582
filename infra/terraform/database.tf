# Postgres is an input (RDS / Aurora run by the platform). This stack
# holds the service login's credentials in Secrets Manager and, by default,
# puts an RDS Proxy in front of the database.
#
# The secret is JSON in the shape of Secrets Manager's PostgreSQL rotation
# functions: {"engine","host","port","dbname","username","password"}. The
# Lambdas read it once at init (DATABASE_URL_SECRET_ARN) and put the login
# into DATABASE_URL, which names the proxy and verify-full TLS; the worker
# gets it through the ECS task's `secrets` (DATABASE_CREDENTIALS); the
# proxy authenticates with it. Terraform writes the password write-only
# (db_password is ephemeral): it is in neither the plan nor the state.
resource "aws_secretsmanager_secret" "db" {
  name                    = "${local.name}/database"
  description             = "numbering-service's Postgres login (JSON, PostgreSQL rotation shape)"
  kms_key_id              = aws_kms_key.main.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret_version" "db" {
  secret_id = aws_secretsmanager_secret.db.id
  secret_string_wo = jsonencode({
    engine   = "postgres"
    host     = var.db_host
    port     = var.db_port
    dbname   = var.db_name
    username = var.db_username
    password = var.db_password
  })
  secret_string_wo_version = var.db_password_version
}

# Rotation: the alternating-users PostgreSQL rotation function keeps the
# previous login valid for one more period, so an execution environment or
# a task that read the secret before a rotation keeps connecting.
resource "aws_secretsmanager_secret_rotation" "db" {
  count               = var.db_secret_rotation_lambda_arn == null ? 0 : 1
  secret_id           = aws_secretsmanager_secret.db.id
  rotation_lambda_arn = var.db_secret_rotation_lambda_arn
  rotation_rules {
    automatically_after_days = var.db_secret_rotation_days
  }
}

locals {
  proxy_max_connections_percent = 90
  # kept outside the service's budget: migrations, operators, monitoring
  db_connections_reserved = 20
  db_endpoint             = var.rds_proxy ? aws_db_proxy.db[0].endpoint : var.db_host
}

resource "aws_iam_role" "db_proxy" {
  count = var.rds_proxy ? 1 : 0
  name  = "${local.name}-db-proxy"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "db_proxy" {
  count = var.rds_proxy ? 1 : 0
  name  = "db-secret-read"
  role  = aws_iam_role.db_proxy[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = aws_secretsmanager_secret.db.arn
    }]
  })
}

resource "aws_db_proxy" "db" {
  count                  = var.rds_proxy ? 1 : 0
  name                   = "${local.name}-db"
  engine_family          = "POSTGRESQL"
  require_tls            = true
  idle_client_timeout    = 1800
  role_arn               = aws_iam_role.db_proxy[0].arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.db_proxy[0].id]
  auth {
    auth_scheme = "SECRETS"
    iam_auth    = "DISABLED"
    secret_arn  = aws_secretsmanager_secret.db.arn
  }
}

resource "aws_db_proxy_default_target_group" "db" {
  count         = var.rds_proxy ? 1 : 0
  db_proxy_name = aws_db_proxy.db[0].name
  connection_pool_config {
    max_connections_percent      = local.proxy_max_connections_percent
    max_idle_connections_percent = 50
    connection_borrow_timeout    = 5
  }
}

resource "aws_db_proxy_target" "db" {
  count                  = var.rds_proxy ? 1 : 0
  db_proxy_name          = aws_db_proxy.db[0].name
  target_group_name      = aws_db_proxy_default_target_group.db[0].name
  db_instance_identifier = var.db_instance_identifier
  db_cluster_identifier  = var.db_cluster_identifier
}
