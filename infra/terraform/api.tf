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
  api_id    = aws_apigatewayv2_api.rest.id
  route_key = "GET /openapi.json"
  target    = "integrations/${aws_apigatewayv2_integration.rest["portal-api"].id}"
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.rest.id
  name        = "$default"
  auto_deploy = true
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
