# sync-job for Paxos: one scheduled function keeping the sandbox and production tokens fresh.
# Sandbox and production are separate Paxos systems with separate credentials; deploy both from
# one account, or each in its own account with `environments_enabled`.

locals {
  # The scopes Paxos documents for minting, redeeming and converting Paxos-issued stablecoins
  # (docs.paxos.com, snippets/scopes). Ask only for what your client id was granted: a token
  # request for a scope the client lacks fails with invalid_scope.
  paxos_scopes = [
    "orchestration:read_orchestration", "orchestration:write_orchestration",
    "orchestration:read_orchestration_rule", "orchestration:write_orchestration_rule",
    "funding:read_profile", "funding:write_profile",
    "transfer:read_deposit_address", "transfer:read_transfer", "transfer:read_fiat_account",
    "transfer:read_fiat_deposit_instructions", "transfer:write_internal_transfer",
    "transfer:write_crypto_withdrawal", "transfer:write_deposit_address",
    "transfer:write_fiat_account", "transfer:write_fiat_deposit_instructions",
    "transfer:write_fiat_withdrawal",
  ]

  paxos_token_urls = {
    sandbox    = "https://oauth.sandbox.paxos.com/oauth2/token"
    production = "https://oauth.paxos.com/oauth2/token"
  }

  environments = {
    for env in var.environments_enabled : env => {
      token_url   = lookup(var.token_urls, env, local.paxos_token_urls[env])
      scopes      = lookup(var.scopes, env, local.paxos_scopes)
      auth_method = "client_secret_post" # every Paxos example sends the secret in the body
      # Tokens live 3599 s. The module's defaults (a run every 5 minutes, refresh with 900 s
      # left, alarm under 600 s) leave a token that one failed run did not refresh 600 s for the
      # next run, at about 1.3 token requests an hour per environment: well inside Paxos's
      # per-IP rate limit. docs/infra.md has the arithmetic and the timeline of the alarm.
      consumer_role_arns     = lookup(var.consumer_role_arns, env, [])
      credentials_secret_arn = lookup(var.existing_credentials_secret_arns, env, null)
    }
  }
}

module "sync_job" {
  source = "../.."

  name                = var.name
  environments        = local.environments
  secret_name_prefix  = "paxos"
  operator_role_arns  = var.operator_role_arns
  lambda_architecture = var.lambda_architecture
  lambda_package_path = coalesce(var.lambda_package_path, "${path.module}/../../../dist/sync-job-lambda-${var.lambda_architecture}.zip")

  job_defaults = {
    max_attempts    = 5
    timeout_seconds = 10
    # Paxos: 1 token request/s per IP over 5 minutes, then the IP is blocked for 5 minutes.
    rate_limit_per_second      = 0.5
    rate_limit_burst           = 10
    rate_limit_lockout_seconds = 300
  }

  schedule_expression         = var.schedule_expression
  alarm_sns_topic_arn         = var.alarm_sns_topic_arn
  subnet_ids                  = var.subnet_ids
  security_group_ids          = var.security_group_ids
  log_retention_days          = var.log_retention_days
  secret_recovery_window_days = var.secret_recovery_window_days
  kms_deletion_window_days    = var.kms_deletion_window_days
  tags                        = var.tags
}
