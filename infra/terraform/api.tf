# The REST surface behind one HTTP API: tenant portal and platform admin.
# The functions verify the bearer JWT themselves (issuer, audience, JWKS),
# so a token is checked the same way on AWS and on-prem; API Gateway adds a
# JWT authorizer in front as a first gate.
resource "aws_apigatewayv2_api" "rest" {
  name          = "${local.name}-rest"
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_authorizer" "jwt" {
  api_id           = aws_apigatewayv2_api.rest.id
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  name             = "jwt"
  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = [var.jwt_audience]
  }
}

locals {
  rest_routes = {
    "ANY /v1/portal/numbering/{proxy+}" = "portal-api"
    "ANY /v1/admin/numbering/{proxy+}"  = "admin-api"
  }
}

resource "aws_apigatewayv2_integration" "rest" {
  for_each               = toset(["portal-api", "admin-api"])
  api_id                 = aws_apigatewayv2_api.rest.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function[each.key].invoke_arn
  payload_format_version = "2.0"
}

resource "aws_apigatewayv2_route" "rest" {
  for_each           = local.rest_routes
  api_id             = aws_apigatewayv2_api.rest.id
  route_key          = each.key
  target             = "integrations/${aws_apigatewayv2_integration.rest[each.value].id}"
  authorization_type = "JWT"
  authorizer_id      = aws_apigatewayv2_authorizer.jwt.id
}

# The OpenAPI document is public.
resource "aws_apigatewayv2_route" "openapi" {
  # checkov:skip=CKV_AWS_309:the OpenAPI document is public on purpose (the contract, no data); throttled with the stage
  api_id    = aws_apigatewayv2_api.rest.id
  route_key = "GET /openapi.json"
  target    = "integrations/${aws_apigatewayv2_integration.rest["portal-api"].id}"
}

# The Commerce Ops console page and its assets are public (they hold no
# data; the page's API calls carry the admin's token): the admin function.
resource "aws_apigatewayv2_route" "console" {
  # checkov:skip=CKV_AWS_309:the console's static page is public on purpose (no data); its API calls go through the JWT routes
  for_each  = toset(["GET /console", "GET /console/{proxy+}"])
  api_id    = aws_apigatewayv2_api.rest.id
  route_key = each.key
  target    = "integrations/${aws_apigatewayv2_integration.rest["admin-api"].id}"
}

# Throttled (every route, with the account's own limit above it) and
# logged: one JSON line per request in the access log group.
resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.rest.id
  name        = "$default"
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit  = var.api_throttle_rate
    throttling_burst_limit = var.api_throttle_burst
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      ip                 = "$context.identity.sourceIp"
      userAgent          = "$context.identity.userAgent"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationError   = "$context.integrationErrorMessage"
      authorizerError    = "$context.authorizer.error"
      jwtSubject         = "$context.authorizer.claims.sub"
      traceId            = "$context.integration.requestId"
    })
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name}-rest"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}

resource "aws_lambda_permission" "rest" {
  for_each      = toset(["portal-api", "admin-api"])
  statement_id  = "apigateway"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.rest.execution_arn}/*/*"
}

# validate-lease is called by the SMS platform inside the VPC, signed with
# SigV4: a function URL with IAM auth (no public route).
resource "aws_lambda_function_url" "validate_lease" {
  function_name      = aws_lambda_function.function["validate-lease"].function_name
  authorization_type = "AWS_IAM"
}
