# EventBridge schedules: the lifecycle sweep every minute, the regulator
# export at 01:00 UTC on the 1st of each month (for the previous month).
locals {
  schedules = {
    "lifecycle-sweeper" = "rate(1 minute)"
    "export-scheduled"  = "cron(0 1 1 * ? *)"
  }
}

resource "aws_cloudwatch_event_rule" "schedule" {
  for_each            = local.schedules
  name                = "${local.name}-${each.key}"
  schedule_expression = each.value
}

resource "aws_cloudwatch_event_target" "schedule" {
  for_each = local.schedules
  rule     = aws_cloudwatch_event_rule.schedule[each.key].name
  arn      = aws_lambda_function.function[each.key].arn
  # an event EventBridge cannot hand to Lambda (throttled past the retries,
  # permission missing) lands in the function's failure queue
  dead_letter_config {
    arn = aws_sqs_queue.failures[each.key].arn
  }
  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 10
  }
}

resource "aws_lambda_permission" "schedule" {
  for_each      = local.schedules
  statement_id  = "eventbridge-schedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function[each.key].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.schedule[each.key].arn
}
