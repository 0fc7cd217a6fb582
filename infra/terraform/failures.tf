# Failures that land somewhere. An asynchronous invocation (S3 → import-s3,
# the EventBridge schedules → lifecycle-sweeper, export-scheduled) that
# still fails after Lambda's two retries is sent, with its event and the
# error, to the function's on-failure queue; so is an event EventBridge could
# not deliver at all (its target's dead-letter queue). The queues' depth is
# alarmed (alarms.tf); README: how to redrive.
resource "aws_sqs_queue" "failures" {
  for_each                  = local.async_functions
  name                      = "${local.name}-${each.key}-failures"
  message_retention_seconds = 1209600 # 14 days, the most SQS keeps
  kms_master_key_id         = aws_kms_key.main.arn
}

# EventBridge sends undeliverable schedule events here, only from its rule
resource "aws_sqs_queue_policy" "failures" {
  for_each  = local.async_functions
  queue_url = aws_sqs_queue.failures[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.failures[each.key].arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      }],
      contains(keys(local.schedules), each.key) ? [{
        Sid       = "EventBridgeDeadLetters"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.failures[each.key].arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.schedule[each.key].arn } }
      }] : []
    )
  })
}

resource "aws_lambda_function_event_invoke_config" "async" {
  for_each                     = local.async_functions
  function_name                = aws_lambda_function.function[each.key].function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 6 * 3600
  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures[each.key].arn
    }
  }
}

# Lambda sends the invocation record with the function's own role
resource "aws_iam_role_policy" "failure_destination" {
  for_each = local.async_functions
  name     = "on-failure-destination"
  role     = aws_iam_role.function[each.key].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["sqs:SendMessage"]
      Resource = aws_sqs_queue.failures[each.key].arn
    }]
  })
}
