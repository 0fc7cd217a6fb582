# The two processes that must stay up: the outbox relay (a LISTEN session
# and an advisory lock: one publishes, the other stands by) and the
# inbound event consumer (JetStream pull consumers). Both from the same
# image (see the repository's Dockerfile).
locals {
  processes = {
    "outbox-relay"   = { replicas = 2 }
    "event-consumer" = { replicas = 2 }
  }
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

# The relay projects lease changes into the DynamoDB lease cache before it
# publishes the invalidation.
resource "aws_iam_role" "relay_task" {
  name = "${local.name}-outbox-relay"
  assume_role_policy = aws_iam_role.task_execution.assume_role_policy
}

resource "aws_iam_role_policy" "relay_cache_write" {
  name = "lease-cache-write"
  role = aws_iam_role.relay_task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["dynamodb:PutItem", "dynamodb:GetItem"]
      Resource = aws_dynamodb_table.lease_cache.arn
    }]
  })
}

resource "aws_cloudwatch_log_group" "process" {
  for_each          = local.processes
  name              = "/ecs/${local.name}-${each.key}"
  retention_in_days = 90
}

resource "aws_ecs_task_definition" "process" {
  for_each                 = local.processes
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = each.key == "outbox-relay" ? aws_iam_role.relay_task.arn : null
  runtime_platform {
    cpu_architecture        = "ARM64"
    operating_system_family = "LINUX"
  }
  container_definitions = jsonencode([{
    name       = each.key
    image      = var.container_image
    entryPoint = ["/usr/local/bin/${each.key}"]
    essential  = true
    environment = [
      for k, v in merge(local.common_env, {
        NUMBERING_LEASE_CACHE_TABLE = aws_dynamodb_table.lease_cache.name
      }) : { name = k, value = v }
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.process[each.key].name
        awslogs-region        = var.region
        awslogs-stream-prefix = each.key
      }
    }
    stopTimeout = 30
  }])
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
    security_groups  = var.security_group_ids
    assign_public_ip = false
  }
}
