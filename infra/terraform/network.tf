# The network paths the functions and the worker need, and only those.
# The private subnets need no route to the internet: S3 and DynamoDB are
# reached through gateway endpoints; KMS, Secrets Manager, CloudWatch Logs,
# X-Ray (the ADOT collector) and ECR (the worker's image) through interface
# endpoints. With var.vpc_endpoints = false the subnets must reach the same
# services through a NAT gateway instead (README).
locals {
  interface_endpoints = var.vpc_endpoints ? toset(["kms", "secretsmanager", "logs", "xray", "ecr.api", "ecr.dkr"]) : toset([])
  gateway_endpoints   = var.vpc_endpoints ? toset(["s3", "dynamodb"]) : toset([])
  # the security groups that call out: the Lambdas and the worker
  callers = {
    functions = aws_security_group.functions.id
    worker    = aws_security_group.worker.id
  }
  # the database port the callers reach: the proxy's, or the database's
  db_target_sg = var.rds_proxy ? aws_security_group.db_proxy[0].id : var.db_security_group_id
}

resource "aws_security_group" "functions" {
  name        = "${local.name}-functions"
  description = "numbering Lambdas: egress to the endpoints, Postgres and the internal services only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "worker" {
  name        = "${local.name}-worker"
  description = "numbering worker tasks: egress to the endpoints, Postgres, NATS and the internal services only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "endpoints" {
  count       = var.vpc_endpoints ? 1 : 0
  name        = "${local.name}-endpoints"
  description = "numbering interface endpoints: HTTPS from the functions and the worker"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "db_proxy" {
  # checkov:skip=CKV2_AWS_5:attached to the RDS Proxy (aws_db_proxy.db, vpc_security_group_ids); checkov does not follow the count index
  count       = var.rds_proxy ? 1 : 0
  name        = "${local.name}-db-proxy"
  description = "numbering RDS Proxy: Postgres from the functions and the worker, to the database"
  vpc_id      = var.vpc_id
}

# --- egress of the callers ----------------------------------------------------

resource "aws_vpc_security_group_egress_rule" "to_endpoints" {
  for_each                     = var.vpc_endpoints ? local.callers : {}
  security_group_id            = each.value
  description                  = "HTTPS to the interface endpoints"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_egress_rule" "to_gateways" {
  for_each = var.vpc_endpoints ? {
    for pair in setproduct(keys(local.callers), tolist(local.gateway_endpoints)) : "${pair[0]}-${pair[1]}" => { sg = local.callers[pair[0]], service = pair[1] }
  } : {}
  security_group_id = each.value.sg
  description       = "HTTPS to ${each.value.service} through its gateway endpoint"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.gateway[each.value.service].prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "to_db" {
  for_each                     = local.callers
  security_group_id            = each.value
  description                  = "Postgres (through the proxy when there is one)"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = local.db_target_sg
}

resource "aws_vpc_security_group_egress_rule" "internal" {
  for_each = merge([
    for caller, sg in local.callers : merge([
      for name, svc in var.internal_egress : {
        for cidr in svc.cidr_blocks : "${caller}-${name}-${cidr}" => { sg = sg, name = name, port = svc.port, cidr = cidr }
      }
    ]...)
  ]...)
  security_group_id = each.value.sg
  description       = "internal service ${each.value.name}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_ingress_rule" "worker_monitoring" {
  for_each          = toset(var.monitoring_cidr_blocks)
  security_group_id = aws_security_group.worker.id
  description       = "health and /metrics"
  ip_protocol       = "tcp"
  from_port         = 8080
  to_port           = 8080
  cidr_ipv4         = each.value
}

# --- ingress of the endpoints, the proxy and the database ----------------------

resource "aws_vpc_security_group_ingress_rule" "endpoints" {
  for_each                     = var.vpc_endpoints ? local.callers : {}
  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_ingress_rule" "db_proxy" {
  for_each                     = var.rds_proxy ? local.callers : {}
  security_group_id            = aws_security_group.db_proxy[0].id
  description                  = "Postgres from the ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = each.value
}

resource "aws_vpc_security_group_egress_rule" "db_proxy" {
  count                        = var.rds_proxy ? 1 : 0
  security_group_id            = aws_security_group.db_proxy[0].id
  description                  = "Postgres to the database"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = var.db_security_group_id
}

# the database's own group admits the proxy (or, without one, the callers)
resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each                     = var.rds_proxy ? { proxy = aws_security_group.db_proxy[0].id } : local.callers
  security_group_id            = var.db_security_group_id
  description                  = "numbering ${local.name}: Postgres from the ${each.key}"
  ip_protocol                  = "tcp"
  from_port                    = var.db_port
  to_port                      = var.db_port
  referenced_security_group_id = each.value
}

# --- the endpoints ------------------------------------------------------------

resource "aws_vpc_endpoint" "gateway" {
  for_each          = local.gateway_endpoints
  vpc_id            = var.vpc_id
  service_name      = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = var.route_table_ids
}

resource "aws_vpc_endpoint" "interface" {
  for_each            = local.interface_endpoints
  vpc_id              = var.vpc_id
  service_name        = "com.amazonaws.${var.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints[0].id]
  private_dns_enabled = true
}
