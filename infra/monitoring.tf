# Alarms and a dashboard over the Lambda's own metrics and the ones the job emits in Embedded
# Metric Format (sync_job/metrics.py: namespace var.metrics_namespace, dimension Environment;
# Refreshed, Fresh, Kept, Deferred, Failed, SecondsRemaining, TokenRequestLatency,
# TokenRequestAttempts).
# docs/runbook.md says what each alarm means and what to do.

locals {
  env_names = sort(keys(local.envs))
}

# Any failed run. Missing data (no run in a whole period: the schedule is off, or the function
# is throttled or gone) is breaching too: a job that does not run keeps no token fresh.
resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${var.name}-errors"
  alarm_description   = "sync-job: a run failed (some environment was not refreshed) or no run happened in the period. Runbook: docs/runbook.md#alarm-errors"
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.job.function_name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Per environment: the least life a run left in the stored token. A healthy job never reports
# less than the refresh margin; less than the threshold means refreshes have been failing.
# No data (the job did not run, or could not read the token) is breaching.
resource "aws_cloudwatch_metric_alarm" "stale_token" {
  for_each = local.envs

  alarm_name          = "${var.name}-${each.key}-token-stale"
  alarm_description   = "sync-job: the ${each.key} token has less than ${each.value.staleness_alarm_seconds} s of life left after a run, or no run reported it. Runbook: docs/runbook.md#alarm-token-stale"
  namespace           = var.metrics_namespace
  metric_name         = "SecondsRemaining"
  dimensions          = { Environment = each.key }
  statistic           = "Minimum"
  period              = var.alarm_period_seconds
  evaluation_periods  = 1
  threshold           = each.value.staleness_alarm_seconds
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

# Per environment: whole days until the client credential ends (a certificate's notAfter, a
# client secret's client_secret_expires_at; the job's CredentialDaysLeft, sync_job/expiry.py).
# Two levels of one alarm: warn at credential_warning_days (30, to the warning topic), page at
# credential_page_days (7). No data is not breaching: environments whose credential has no known
# end (a KMS key, a federated assertion, a secret without an end date) never report the metric.
locals {
  credential_alarm_levels = {
    warning = { suffix = "", days = var.credential_warning_days, actions = local.warning_actions, says = "(warning)", todo = "" }
    page    = { suffix = "-page", days = var.credential_page_days, actions = local.alarm_actions, says = "(page)", todo = "; rotate it now" }
  }
  # Keyed "ENV" for the warning (the address it had when the levels were two resources, so an
  # upgrade keeps it) and "ENV/page" for the page; an environment name cannot hold a "/".
  credential_alarms = {
    for pair in setproduct(local.env_names, keys(local.credential_alarm_levels)) :
    (pair[1] == "warning" ? pair[0] : "${pair[0]}/${pair[1]}") => merge(local.credential_alarm_levels[pair[1]], { env = pair[0] })
  }
}

resource "aws_cloudwatch_metric_alarm" "credential_expiring" {
  for_each = local.credential_alarms

  alarm_name          = "${var.name}-${each.value.env}-credential-expiring${each.value.suffix}"
  alarm_description   = "sync-job ${each.value.says}: the ${each.value.env} client credential ends in less than ${each.value.days} days${each.value.todo}. Runbook: docs/runbook.md#credential-expiring"
  namespace           = var.metrics_namespace
  metric_name         = "CredentialDaysLeft"
  dimensions          = { Environment = each.value.env }
  statistic           = "Minimum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = each.value.days
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = each.value.actions
  ok_actions          = each.value.actions
  tags                = local.tags
}

# Events in the dead-letter queue: scheduled runs that never ran, or failed after Lambda's
# retries. SQS stops publishing metrics for an idle queue, so missing data is not breaching.
resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${var.name}-dead-letters"
  alarm_description   = "sync-job: scheduled invocations ended in the dead-letter queue. Runbook: docs/runbook.md#alarm-dead-letters"
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.dead_letter.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = local.tags
}

resource "aws_cloudwatch_dashboard" "job" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 7
        properties = {
          title  = "Token life left after each run (s)"
          region = local.region
          view   = "timeSeries"
          period = 300
          stat   = "Minimum"
          metrics = [
            for env in local.env_names :
            [var.metrics_namespace, "SecondsRemaining", "Environment", env, { label = env }]
          ]
          annotations = {
            horizontal = [
              { label = "stale alarm (default)", value = var.staleness_alarm_seconds, color = "#d62728" },
            ]
          }
          yAxis = { left = { min = 0 } }
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 7
        properties = {
          title   = "Refresh outcomes per run"
          region  = local.region
          view    = "timeSeries"
          stacked = true
          period  = 3600
          stat    = "Sum"
          # concat(...) flattens one level only: flatten() would also flatten each metric array.
          metrics = concat([
            for env in local.env_names : [
              [var.metrics_namespace, "Refreshed", "Environment", env, { label = "${env} refreshed" }],
              [var.metrics_namespace, "Fresh", "Environment", env, { label = "${env} fresh" }],
              [var.metrics_namespace, "Kept", "Environment", env, { label = "${env} kept" }],
              [var.metrics_namespace, "Deferred", "Environment", env, { label = "${env} deferred" }],
              [var.metrics_namespace, "Failed", "Environment", env, { label = "${env} failed" }],
            ]
          ]...)
        }
      },
      {
        type = "metric", x = 0, y = 7, width = 8, height = 6
        properties = {
          title  = "Token request latency (ms)"
          region = local.region
          view   = "timeSeries"
          period = 900
          stat   = "Maximum"
          metrics = [
            for env in local.env_names :
            [var.metrics_namespace, "TokenRequestLatency", "Environment", env, { label = env }]
          ]
        }
      },
      {
        type = "metric", x = 8, y = 7, width = 8, height = 6
        properties = {
          title  = "Token requests per run (attempts)"
          region = local.region
          view   = "timeSeries"
          period = 900
          stat   = "Maximum"
          metrics = [
            for env in local.env_names :
            [var.metrics_namespace, "TokenRequestAttempts", "Environment", env, { label = env }]
          ]
        }
      },
      {
        type = "metric", x = 16, y = 7, width = 8, height = 6
        properties = {
          title  = "Function: invocations, errors, throttles; dead letters"
          region = local.region
          view   = "timeSeries"
          period = 900
          stat   = "Sum"
          metrics = [
            ["AWS/Lambda", "Invocations", "FunctionName", local.function_name],
            ["AWS/Lambda", "Errors", "FunctionName", local.function_name, { color = "#d62728" }],
            ["AWS/Lambda", "Throttles", "FunctionName", local.function_name],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.dead_letter.name, { stat = "Maximum" }],
          ]
        }
      },
      {
        type = "alarm", x = 0, y = 13, width = 24, height = 3
        properties = {
          title = "Alarms"
          alarms = concat(
            [aws_cloudwatch_metric_alarm.errors.arn, aws_cloudwatch_metric_alarm.dead_letters.arn],
            [for env in local.env_names : aws_cloudwatch_metric_alarm.stale_token[env].arn],
          )
        }
      },
    ]
  })
}
