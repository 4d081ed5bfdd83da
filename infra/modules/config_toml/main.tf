# The job's configuration as TOML (SYNC_JOB_CONFIG_TOML), from the root module's variables.
# No provider and no resource: tests/infra/test_config_toml.py applies it on its own in seconds
# and parses what it renders, odd strings included.

variable "environments" {
  description = "Per environment name: the root module's environment object (keys of the job's config that are null are left out), plus credentials_secret and token_secret, the ARNs the root module resolved."
  type        = any
}

variable "job_defaults" {
  description = "The root module's job_defaults object; null values are left out."
  type        = any
  default     = {}
}

locals {
  # The job's per-environment keys (sync_job/config.py, EnvironmentConfig) rendered as given when
  # not null. jsonencode() of a number, a string or a list of strings is also valid TOML: a JSON
  # string is a TOML basic string (the same escapes, \uXXXX included).
  environment_keys = [
    "credentials_secret", "token_secret",
    "token_url", "scopes", "auth_method", "refresh_margin_seconds", "max_attempts",
    "timeout_seconds", "backoff_initial_seconds", "backoff_max_seconds", "rate_limit_per_second",
    "rate_limit_burst", "rate_limit_lockout_seconds", "default_lifetime_seconds",
    "max_lifetime_seconds", "signing_alg", "audience", "key_id", "kms_key_id",
    "client_assertion_source", "client_assertion_audience", "client_assertion_lifetime_seconds",
    "client_assertion_signing_alg", "client_assertion_file", "revocation_url", "client_id",
  ]

  defaults        = { for k, v in var.job_defaults : k => v if v != null && k != "endpoint_params" }
  defaults_params = try(var.job_defaults.endpoint_params, null) == null ? {} : var.job_defaults.endpoint_params
  env_params = {
    for name, env in var.environments : name => try(env.endpoint_params, null) == null ? {} : env.endpoint_params
  }

  # endpoint_params as an inline table of arrays, { "field" = ["a", "b"] }: the field names are
  # quoted keys, so any name renders.
  defaults_params_toml = "{ ${join(", ", [for f in sort(keys(local.defaults_params)) : "${jsonencode(f)} = ${jsonencode(local.defaults_params[f])}"])} }"
  env_params_toml = {
    for name, params in local.env_params :
    name => "{ ${join(", ", [for f in sort(keys(params)) : "${jsonencode(f)} = ${jsonencode(params[f])}"])} }"
  }

  toml = join("\n", concat(
    ["# Rendered by infra/ (Terraform). Edit the module's variables, not this text.", "[defaults]"],
    [for k in sort(keys(local.defaults)) : "${k} = ${jsonencode(local.defaults[k])}"],
    length(local.defaults_params) == 0 ? [] : ["endpoint_params = ${local.defaults_params_toml}"],
    flatten([
      for name in sort(keys(var.environments)) : concat(
        ["", "[environments.${name}]"],
        [
          for k in local.environment_keys : "${k} = ${jsonencode(var.environments[name][k])}"
          if try(var.environments[name][k], null) != null
        ],
        length(local.env_params[name]) == 0 ? [] : ["endpoint_params = ${local.env_params_toml[name]}"],
      )
    ]),
    [""],
  ))
}

output "toml" {
  description = "The job's configuration file: names secrets and URLs, never a secret value."
  value       = local.toml
}

output "environment_keys" {
  description = "The job's per-environment keys this module renders (besides endpoint_params)."
  value       = local.environment_keys
}
