output "rest_api_url" {
  value = aws_apigatewayv2_stage.default.invoke_url
}

output "validate_lease_url" {
  value = aws_lambda_function_url.validate_lease.function_url
}

output "lease_cache_table" {
  value = aws_dynamodb_table.lease_cache.name
}

output "imports_bucket" {
  value = aws_s3_bucket.imports.bucket
}

output "exports_bucket" {
  value = aws_s3_bucket.exports.bucket
}

output "audit_archive_bucket" {
  value = aws_s3_bucket.audit_archive.bucket
}

output "export_signing_key_arn" {
  value = aws_kms_key.export_signing.arn
}

output "alarms_topic_arn" {
  value = aws_sns_topic.alarms.arn
}

output "failure_queues" {
  value = { for k, q in aws_sqs_queue.failures : k => q.url }
}

output "database_secret_arn" {
  value = aws_secretsmanager_secret.db.arn
}

output "db_proxy_endpoint" {
  value = var.rds_proxy ? aws_db_proxy.db[0].endpoint : null
}
