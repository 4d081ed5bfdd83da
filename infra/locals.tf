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

  envs = {
    for name, env in var.environments : name => merge(env, {
      token_secret_name       = coalesce(env.token_secret_name, "${var.secret_name_prefix}/${name}/access-token")
      credentials_secret_name = coalesce(env.credentials_secret_name, "${var.secret_name_prefix}/${name}/client-credentials")
      create_credentials      = env.credentials_secret_arn == null
      staleness_alarm_seconds = coalesce(env.staleness_alarm_seconds, var.staleness_alarm_seconds)
    })
  }
  created_credentials = { for name, env in local.envs : name => env if env.create_credentials }

  token_secret_arns = { for name, _ in local.envs : name => aws_secretsmanager_secret.token[name].arn }
  credentials_secret_arns = {
    for name, env in local.envs : name => (
      env.create_credentials ? aws_secretsmanager_secret.credentials[name].arn : env.credentials_secret_arn
    )
  }
  # Keys of existing credentials secrets that are not this module's key.
  external_credentials_key_arns = distinct(compact([for _, env in local.envs : env.credentials_kms_key_arn]))

  # ARN patterns of the secrets this module creates, by name (Secrets Manager appends "-" and six
  # random characters). The key policy uses them: it cannot name the secrets' ARNs, because the
  # secrets are encrypted with the key and so are created after it.
  token_secret_arn_patterns = [
    for _, env in local.envs :
    "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${env.token_secret_name}-??????"
  ]

  # The job's configuration, rendered as TOML. It names secrets and URLs, never a secret value.
  # jsonencode() of a string or a list of strings is also a valid TOML string or array.
  job_defaults = { for k, v in var.job_defaults : k => v if v != null }
  config_toml = join("\n", concat(
    ["# Rendered by infra/ (Terraform). Edit the module's variables, not this text.", "[defaults]"],
    [for k in sort(keys(local.job_defaults)) : "${k} = ${local.job_defaults[k]}"],
    flatten([
      for name in sort(keys(local.envs)) : concat(
        [
          "",
          "[environments.${name}]",
          "token_url = ${jsonencode(local.envs[name].token_url)}",
          "scopes = ${jsonencode(local.envs[name].scopes)}",
          "auth_method = ${jsonencode(local.envs[name].auth_method)}",
          "credentials_secret = ${jsonencode(local.credentials_secret_arns[name])}",
          "token_secret = ${jsonencode(local.token_secret_arns[name])}",
        ],
        local.envs[name].refresh_margin_seconds == null ? [] : [
          "refresh_margin_seconds = ${local.envs[name].refresh_margin_seconds}"
        ],
      )
    ]),
    [""],
  ))

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  tags          = merge({ "app" = "sync-job", "sync-job:deployment" = var.name }, var.tags)
}
