data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  function_name  = var.name
  log_group_name = "/aws/lambda/${var.name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  # A keyless environment (a KMS key, an STS web-identity token or an assertion file) whose
  # client_id is given reads no credentials secret (sync_job/client_identity.py): it has no
  # client secret to hold. The module then creates none (a secret never filled is a misleading
  # resource and $0.40 a month) and grants nothing on one.
  secretless = {
    for name, env in var.environments : name => env.client_id != null && (
      env.kms_key_id != null || env.signing_key_spec != null ||
      env.client_assertion_source != null || env.client_assertion_file != null
    )
  }
  envs = {
    for name, env in var.environments : name => merge(env, {
      token_secret_name       = coalesce(env.token_secret_name, "${var.secret_name_prefix}/${name}/access-token")
      credentials_secret_name = coalesce(env.credentials_secret_name, "${var.secret_name_prefix}/${name}/client-credentials")
      create_credentials      = env.credentials_secret_arn == null && !local.secretless[name]
      reads_credentials       = !local.secretless[name]
      staleness_alarm_seconds = coalesce(env.staleness_alarm_seconds, var.staleness_alarm_seconds)
    })
  }
  created_credentials = { for name, env in local.envs : name => env if env.create_credentials }

  token_secret_arns = { for name, _ in local.envs : name => aws_secretsmanager_secret.token[name].arn }
  # Only the environments that read one: a secretless environment has no entry.
  credentials_secret_arns = {
    for name, env in local.envs : name => (
      env.create_credentials ? aws_secretsmanager_secret.credentials[name].arn : env.credentials_secret_arn
    ) if env.reads_credentials
  }
  # Keys of existing credentials secrets that are not this module's key.
  external_credentials_key_arns = distinct(compact([
    for _, env in local.envs : env.credentials_kms_key_arn if env.reads_credentials
  ]))

  # ARN patterns of the secrets this module creates, by name (Secrets Manager appends "-" and six
  # random characters). The key policy uses them: it cannot name the secrets' ARNs, because the
  # secrets are encrypted with the key and so are created after it.
  token_secret_arn_patterns = [
    for _, env in local.envs :
    "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${env.token_secret_name}-??????"
  ]

  # The job's keys that are deliberately not variables of this module, and why
  # (tests/infra/test_schema_parity.py reads this map). Every other key of the job is a
  # variable: environments (per environment) or job_defaults ([defaults], run-wide keys).
  job_keys_set_by_the_module = {
    credentials_secret = "the ARN of the secret this module creates (credentials_secret_name), or credentials_secret_arn: the job's IAM policy and the key policy must name the same secret"
    token_secret       = "the ARN of the token secret this module creates (token_secret_name): its resource policy, the consumers' grants and the alarms are built around it"
  }
  # The module's own keys of an environment: not the job's, not rendered.
  module_environment_keys = [
    "credentials_secret_name", "credentials_secret_arn", "credentials_kms_key_arn",
    "token_secret_name", "consumer_role_arns", "staleness_alarm_seconds", "create_credentials",
    "reads_credentials", "signing_key_spec",
  ]

  # The interval of schedule_expression in seconds, where it has one: rate(N minutes|hours|days) or
  # cron(*/N ...) / cron(0/N ...); null for other cron expressions. The job's write-budget
  # arithmetic reads it as schedule_seconds (docs/behaviour.md, "The write budget of a token secret").
  schedule_seconds = try(
    tonumber(regex("^rate\\(([0-9]+) minutes?\\)$", var.schedule_expression)[0]) * 60,
    tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.schedule_expression)[0]) * 3600,
    tonumber(regex("^rate\\(([0-9]+) days?\\)$", var.schedule_expression)[0]) * 86400,
    60 * tonumber(regex("^cron\\((?:\\*|0)/([0-9]+) \\* ", var.schedule_expression)[0]),
    null,
  )

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  # Warnings (a credential ending within credential_warning_days) go to their own topic if given.
  warning_actions = var.warning_sns_topic_arn == null ? local.alarm_actions : [var.warning_sns_topic_arn]
  tags            = merge({ "app" = "sync-job", "sync-job:deployment" = var.name }, var.tags)
}

# The job's configuration (SYNC_JOB_CONFIG_TOML), rendered by a provider-less module that the
# tests apply on its own. It names secrets and URLs, never a secret value.
module "config" {
  source = "./modules/config_toml"

  environments = {
    for name, env in local.envs : name => merge(
      { for k, v in env : k => v if !contains(local.module_environment_keys, k) },
      {
        # None for a keyless environment whose client_id is given: the job reads no secret.
        credentials_secret = lookup(local.credentials_secret_arns, name, null)
        token_secret       = local.token_secret_arns[name]
        # A signing key this module created (signing_key_spec), else the given one, else none.
        kms_key_id = lookup(local.signing_key_arns, name, null)
      },
    )
  }
  job_defaults = merge(var.job_defaults, {
    schedule_seconds = try(coalesce(var.job_defaults.schedule_seconds, local.schedule_seconds), null)
  })
}
