# The alarms of the service's SLOs, all into one SNS topic (subscribe the
# on-call tool or e-mail to it): a function erroring or throttled, an event
# in a failure queue, and ValidateLease answering UNAVAILABLE (the EMF
# metric the functions write, namespace `Numbering`, named as the host's
# Prometheus metric).
resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.main.arn
}

resource "aws_sns_topic_policy" "alarms" {
  arn = aws_sns_topic.alarms.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CloudWatchAlarmsOfThisAccount"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.alarms.arn
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_sns_topic_subscription" "alarms" {
  for_each  = toset(var.alarm_topic_subscribers)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
  # per function: Lambda's own errors and throttles
  function_alarms = merge([
    for f in keys(local.functions) : {
      "${f}-errors"    = { function = f, metric = "Errors", what = "failed invocations (unhandled errors, timeouts)" }
      "${f}-throttles" = { function = f, metric = "Throttles", what = "throttled invocations (reserved concurrency reached)" }
    }
  ]...)
}

resource "aws_cloudwatch_metric_alarm" "function" {
  for_each            = local.function_alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = "${each.value.function}: ${each.value.what}"
  namespace           = "AWS/Lambda"
  metric_name         = each.value.metric
  dimensions          = { FunctionName = aws_lambda_function.function[each.value.function].function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# an event that failed for good, waiting to be looked at and redriven
resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  for_each            = local.async_functions
  alarm_name          = "${local.name}-${each.key}-failures-waiting"
  alarm_description   = "${each.key}: events in its failure queue (README: redrive)"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures[each.key].name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# ValidateLease fails closed: UNAVAILABLE means callers are refused
resource "aws_cloudwatch_metric_alarm" "validate_lease_unavailable" {
  alarm_name          = "${local.name}-validate-lease-unavailable"
  alarm_description   = "ValidateLease answered UNAVAILABLE (no tier could decide; callers are refused)"
  namespace           = "Numbering"
  metric_name         = "numbering_validate_lease_unavailable_total"
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

# the seed's latency bound for ValidateLease (P95 under 50 ms)
resource "aws_cloudwatch_metric_alarm" "validate_lease_latency" {
  alarm_name          = "${local.name}-validate-lease-p95"
  alarm_description   = "validate-lease P95 duration over 50 ms"
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = aws_lambda_function.function["validate-lease"].function_name }
  extended_statistic  = "p95"
  period              = 300
  evaluation_periods  = 3
  threshold           = 50
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
