output "function_name" {
  description = "The function; see docs/runbook.md to force a run."
  value       = module.sync_job.function_name
}

output "function_arn" {
  description = "ARN of the function."
  value       = module.sync_job.function_arn
}

output "schedule_arn" {
  description = "The EventBridge Scheduler schedule (pause it with schedule_enabled = false in the module)."
  value       = module.sync_job.schedule_arn
}

output "log_group_name" {
  description = "The function's logs and EMF metric documents."
  value       = module.sync_job.log_group_name
}

output "dead_letter_queue_url" {
  description = "Scheduled runs that were not delivered or failed."
  value       = module.sync_job.dead_letter_queue_url
}

output "token_secret_arns" {
  description = "What consumers read, per environment."
  value       = module.sync_job.token_secret_arns
}

output "credentials_secret_arns" {
  description = "Where operators put {\"client_id\", \"client_secret\"}, per environment."
  value       = module.sync_job.credentials_secret_arns
}

output "role_arn" {
  description = "The job's execution role."
  value       = module.sync_job.role_arn
}

output "kms_key_arn" {
  description = "The key of the secrets."
  value       = module.sync_job.kms_key_arn
}

output "dashboard_name" {
  description = "The CloudWatch dashboard."
  value       = module.sync_job.dashboard_name
}

output "alarm_names" {
  description = "The alarms docs/runbook.md explains."
  value       = module.sync_job.alarm_names
}

output "config_toml" {
  description = "The job's rendered configuration (no secret in it)."
  value       = module.sync_job.config_toml
}

output "signing_key_arns" {
  description = "Per private_key_jwt environment signed by KMS: its signing key's ARN."
  value       = module.sync_job.signing_key_arns
}

output "signing_public_keys_pem" {
  description = "Public keys (PEM, SubjectPublicKeyInfo) of the signing keys the module created, to register with the provider; `sync-job jwks ENV` prints each as an RFC 7517 JWK Set with the kid the assertions carry."
  value       = module.sync_job.signing_public_keys_pem
}

output "reader_policy_json" {
  description = "Per environment: the IAM policy (JSON) to attach to a consumer role; list the role in consumer_role_arns too (infra/README.md)."
  value       = module.sync_job.reader_policy_json
}
