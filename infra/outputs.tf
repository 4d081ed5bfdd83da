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
  description = "Client-credentials secret ARN per environment that reads one: where operators put {\"client_id\", \"client_secret\"}. A keyless environment with client_id (secretless) has no entry: no secret is created for it."
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
    [for env in local.env_names : aws_cloudwatch_metric_alarm.credential_expiring["${env}/page"].alarm_name],
  )
}

output "config_toml" {
  description = "The job's configuration as rendered into SYNC_JOB_CONFIG_TOML (names and URLs only, no secret)."
  value       = module.config.toml
}

output "signing_key_arns" {
  description = "Per private_key_jwt environment signed by KMS: its signing key's ARN (created by this module with signing_key_spec, or the given kms_key_id)."
  value       = local.signing_key_arns
}

output "signing_public_keys_pem" {
  description = "Per environment with a signing key this module created: its public key as PEM (SubjectPublicKeyInfo, what kms:GetPublicKey returns), for providers that take a PEM key. Not a JWKS: Terraform cannot read a key's modulus or curve point out of DER, so the RFC 7517 JWK Set, with the RFC 7638 kid the assertions carry, is `sync-job jwks ENV`."
  value       = { for name, key in data.aws_kms_public_key.signing : name => key.public_key_pem }
}

output "reader_policy_json" {
  description = "Per environment: the IAM policy (JSON) a consumer role needs to read that environment's token: GetSecretValue/DescribeSecret on the token secret and kms:Decrypt on the module's key through Secrets Manager for that secret only. Attach it to the consumer's role (same account or another one) and list the role in the environment's consumer_role_arns, which adds the secret's resource policy and, for another account, the key policy grant."
  value       = { for name, _ in local.envs : name => data.aws_iam_policy_document.reader[name].json }
}
