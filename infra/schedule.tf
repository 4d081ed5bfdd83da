resource "aws_scheduler_schedule" "job" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the constant event {} (no secret, no personal data); an AWS owned key protects it at rest.
  name                         = var.name
  description                  = "${var.name}: refresh OAuth2 tokens that are close to expiry"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = var.schedule_enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.job.arn
    role_arn = aws_iam_role.scheduler.arn
    # Every environment, not forced: a run refreshes only tokens inside their margin.
    input = jsonencode({})

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }

    dead_letter_config {
      arn = aws_sqs_queue.dead_letter.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}
