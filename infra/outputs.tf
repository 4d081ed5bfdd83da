output "function_name" {
  description = "The Lambda function (`aws lambda invoke --function-name ...` forces a run, see docs/runbook.md)."
  value       = aws_lambda_function.job.function_name
}

output "function_arn" {
  description = "ARN of the Lambda function."
  value       = aws_lambda_function.job.arn
}

output "role_arn" {
  description = "The job's execution role."
  value       = aws_iam_role.job.arn
}

output "kms_key_arn" {
  description = "The customer-managed key of the secrets, the function environment and the log group."
  value       = aws_kms_key.this.arn
}

output "token_secret_arns" {
  description = "Token secret ARN per environment: what consumers read (AWSCURRENT)."
  value       = local.token_secret_arns
}

output "credentials_secret_arns" {
  description = "Client-credentials secret ARN per environment: where operators put {\"client_id\", \"client_secret\"}."
  value       = local.credentials_secret_arns
}

output "schedule_arn" {
  description = "The EventBridge Scheduler schedule."
  value       = aws_scheduler_schedule.job.arn
}

output "dead_letter_queue_url" {
  description = "Dead-letter queue of undelivered or failed scheduled runs."
  value       = aws_sqs_queue.dead_letter.url
}

output "log_group_name" {
  description = "The function's log group (JSON logs and EMF metric documents)."
  value       = aws_cloudwatch_log_group.job.name
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.job.dashboard_name
}

output "alarm_names" {
  description = "Every alarm: errors, dead letters, and per environment one staleness alarm and two credential-expiry alarms (warning, page)."
  value = concat(
    [aws_cloudwatch_metric_alarm.errors.alarm_name, aws_cloudwatch_metric_alarm.dead_letters.alarm_name],
    [for env in local.env_names : aws_cloudwatch_metric_alarm.stale_token[env].alarm_name],
    [for env in local.env_names : aws_cloudwatch_metric_alarm.credential_expiring[env].alarm_name],
    [for env in local.env_names : aws_cloudwatch_metric_alarm.credential_expiring_page[env].alarm_name],
  )
}

output "config_toml" {
  description = "The job's configuration as rendered into SYNC_JOB_CONFIG_TOML (names and URLs only, no secret)."
  value       = module.config.toml
}
