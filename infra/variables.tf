variable "name" {
  description = "Name of the deployment: the Lambda function, and the prefix of the role, key alias, schedule, queue, alarms and dashboard."
  type        = string
  default     = "sync-job"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9-]{0,39}$", var.name))
    error_message = "name: 1-40 letters, digits or '-', starting with a letter."
  }
}

variable "environments" {
  description = <<-EOT
    The OAuth2 environments to keep tokens fresh for, keyed by environment name (the `--env`
    name, the metric dimension and part of the default secret names). Every per-environment key
    of the job's configuration (README "Configuration") is here; null or absent leaves the
    job_defaults value, then the job's own default. Per environment:
      token_url               token endpoint (https://; http:// only for loopback test hosts)
      scopes                  scopes to request (and to require in the answer)
      auth_method             client_secret_post (Paxos) | client_secret_basic | private_key_jwt
      refresh_margin_seconds  refresh when this much life or less is left (job default 900)
      max_attempts            token requests per run at most (job default 5)
      timeout_seconds         per token request (job default 10)
      backoff_initial_seconds, backoff_max_seconds   retry backoff (job defaults 0.5, 30)
      rate_limit_per_second, rate_limit_burst        token bucket per token host (0.5, 10)
      rate_limit_lockout_seconds  a 429 without Retry-After waits this long (300)
      default_lifetime_seconds    lifetime of a token whose answer has no expires_in (none)
      max_lifetime_seconds        cap on a token's lifetime (job default 2592000 = 30 days)
      endpoint_params         extra form fields of every token request, e.g. Auth0's
                              { audience = ["https://api.example.com"] }; a list of several
                              values is sent as repeated fields (RFC 8707 resource indicators)
      signing_alg, audience, key_id   private_key_jwt only: the assertion's algorithm
                              (RS256 default, ES256, PS256), its "aud" (default token_url), its
                              "kid" header (the credentials secret's key_id wins)
      kms_key_id              private_key_jwt only: the assertion is signed by this asymmetric KMS
                              key (key ARN; RSA_* or ECC_NIST_P256), no private key is stored;
                              the job's role is granted kms:Sign and kms:GetPublicKey on it
      signing_key_spec        private_key_jwt only, instead of kms_key_id: this module creates
                              the environment's signing key (RSA_2048, RSA_3072, RSA_4096 or
                              ECC_NIST_P256; output signing_public_keys_pem) and renders its ARN
      client_assertion_source "aws_sts": the assertion is the job role's web-identity token
                              (sts:GetWebIdentityToken), with client_assertion_audience,
                              client_assertion_lifetime_seconds (60-3600, default 300) and
                              client_assertion_signing_alg (RS256 default, ES384)
      client_assertion_file   the assertion is read from this file on every request (a
                              Kubernetes projected token, a SPIFFE JWT-SVID)
      client_id               the OAuth client id; with kms_key_id, signing_key_spec,
                              client_assertion_source or client_assertion_file the job then reads
                              no credentials secret, and the module creates none and grants none
      revocation_url          the provider's RFC 7009 revocation endpoint, for `sync-job revoke`
                              (e.g. https://oauth.paxos.com/oauth2/revoke); null: none
      credentials_secret_name name of the client-credentials secret this module creates, without a value
                              (default "<secret_name_prefix>/<env>/client-credentials")
      credentials_secret_arn  ARN of an existing client-credentials secret instead: nothing is created
      credentials_kms_key_arn the customer-managed key of that existing secret, if it has one
      token_secret_name       name of the token secret this module creates
                              (default "<secret_name_prefix>/<env>/access-token")
      consumer_role_arns      IAM roles allowed to read this environment's token
      staleness_alarm_seconds alarm when the stored token has less life than this after a run
                              (null: var.staleness_alarm_seconds)
  EOT
  type = map(object({
    token_url              = string
    scopes                 = optional(list(string), [])
    auth_method            = optional(string, "client_secret_post")
    refresh_margin_seconds = optional(number)
    # The job's per-environment keys (sync_job/config.py), rendered into its TOML when not null.
    max_attempts               = optional(number)
    timeout_seconds            = optional(number)
    backoff_initial_seconds    = optional(number)
    backoff_max_seconds        = optional(number)
    rate_limit_per_second      = optional(number)
    rate_limit_burst           = optional(number)
    rate_limit_lockout_seconds = optional(number)
    default_lifetime_seconds   = optional(number)
    max_lifetime_seconds       = optional(number)
    endpoint_params            = optional(map(list(string)), {})
    signing_alg                = optional(string)
    audience                   = optional(string)
    key_id                     = optional(string)
    # Keyless private_key_jwt (issue 20): a KMS signing key, or a federated assertion.
    kms_key_id                        = optional(string)
    signing_key_spec                  = optional(string)
    client_assertion_source           = optional(string)
    client_assertion_audience         = optional(string)
    client_assertion_lifetime_seconds = optional(number)
    client_assertion_signing_alg      = optional(string)
    client_assertion_file             = optional(string)
    revocation_url                    = optional(string)
    # The OAuth client id (not a secret, RFC 6749 §2.2); with a keyless source above the job
    # then reads no credentials secret (sync_job/client_identity.py).
    client_id = optional(string)
    # The module's own keys: where the secrets are, who reads the token, when to alarm.
    credentials_secret_name = optional(string)
    credentials_secret_arn  = optional(string)
    credentials_kms_key_arn = optional(string)
    token_secret_name       = optional(string)
    consumer_role_arns      = optional(list(string), [])
    staleness_alarm_seconds = optional(number)
  }))

  validation {
    condition     = length(var.environments) > 0
    error_message = "environments: configure at least one environment."
  }
  validation {
    condition = alltrue([for _, e in var.environments : alltrue([
      for k in ["refresh_margin_seconds"] : e[k] == null || try(e[k] >= 0 && floor(e[k]) == e[k], false)
    ])])
    error_message = "environments: refresh_margin_seconds must be a whole number of seconds, 0 or more."
  }
  validation {
    condition = alltrue([for _, e in var.environments : alltrue([
      for k in ["max_attempts", "rate_limit_burst", "rate_limit_lockout_seconds", "default_lifetime_seconds", "max_lifetime_seconds"] :
      e[k] == null || try(e[k] > 0 && floor(e[k]) == e[k], false)
    ])])
    error_message = "environments: max_attempts, rate_limit_burst, rate_limit_lockout_seconds, default_lifetime_seconds and max_lifetime_seconds must be positive whole numbers."
  }
  validation {
    condition = alltrue([for _, e in var.environments : alltrue([
      for k in ["timeout_seconds", "backoff_initial_seconds", "backoff_max_seconds", "rate_limit_per_second"] :
      e[k] == null || try(e[k] > 0, false)
    ])])
    error_message = "environments: timeout_seconds, backoff_initial_seconds, backoff_max_seconds and rate_limit_per_second must be positive."
  }
  validation {
    # The job's SIGNING_ALGS, and PS256 (Microsoft Entra ID's recommended algorithm, issue 10 §2).
    condition     = alltrue([for _, e in var.environments : e.signing_alg == null || contains(["RS256", "ES256", "PS256"], coalesce(e.signing_alg, "RS256"))])
    error_message = "environments: signing_alg must be RS256, ES256 or PS256."
  }
  validation {
    # The job refuses these for other auth methods: say so at plan time, not at every run.
    condition = alltrue([for _, e in var.environments : e.auth_method == "private_key_jwt" || (
      e.signing_alg == null && e.audience == null && e.key_id == null
    )])
    error_message = "environments: signing_alg, audience and key_id apply only to auth_method = \"private_key_jwt\"."
  }
  validation {
    condition = alltrue([for _, e in var.environments : e.auth_method == "private_key_jwt" || (
      e.kms_key_id == null && e.client_assertion_source == null && e.client_assertion_file == null
    )])
    error_message = "environments: kms_key_id, client_assertion_source and client_assertion_file apply only to auth_method = \"private_key_jwt\"."
  }
  validation {
    condition = alltrue([for _, e in var.environments : e.signing_key_spec == null || (
      e.auth_method == "private_key_jwt" && e.kms_key_id == null &&
      contains(["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256"], coalesce(e.signing_key_spec, "-"))
    )])
    error_message = "environments: signing_key_spec (RSA_2048, RSA_3072, RSA_4096 or ECC_NIST_P256) creates a signing key for a private_key_jwt environment without kms_key_id."
  }
  validation {
    # IAM grants name a key by its ARN: an alias cannot be granted kms:Sign.
    condition     = alltrue([for _, e in var.environments : e.kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", coalesce(e.kms_key_id, "-")))])
    error_message = "environments: kms_key_id must be a key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): the job's role is granted kms:Sign on it by ARN."
  }
  validation {
    # One source of the assertion (sync_job/config.py _check_key_source).
    condition = alltrue([for _, e in var.environments :
      length(compact([e.kms_key_id, e.signing_key_spec, e.client_assertion_source, e.client_assertion_file])) <= 1
    ])
    error_message = "environments: kms_key_id, client_assertion_source and client_assertion_file exclude each other."
  }
  validation {
    condition = alltrue([for _, e in var.environments : e.client_assertion_source == null || (
      e.client_assertion_source == "aws_sts" && e.client_assertion_audience != null
    )])
    error_message = "environments: client_assertion_source must be \"aws_sts\", with client_assertion_audience (Entra ID: api://AzureADTokenExchange)."
  }
  validation {
    # Fields the grant sets itself, and a value per field: the job's own rules for endpoint_params.
    condition = alltrue([for _, e in var.environments : alltrue([
      for field, values in e.endpoint_params : length(values) > 0 && !contains(
        ["grant_type", "scope", "client_id", "client_secret", "client_assertion", "client_assertion_type"], field
      )
    ])])
    error_message = "environments: endpoint_params may not set grant_type, scope, client_id, client_secret, client_assertion or client_assertion_type, and each field needs at least one value."
  }
  validation {
    condition     = alltrue([for k, _ in var.environments : can(regex("^[a-z][a-z0-9_-]{0,31}$", k))])
    error_message = "environments: names are 1-32 lowercase letters, digits, '_' or '-', starting with a letter."
  }
  validation {
    condition = alltrue([for _, e in var.environments : contains(
      ["client_secret_post", "client_secret_basic", "private_key_jwt"], e.auth_method
    )])
    error_message = "environments: auth_method must be client_secret_post, client_secret_basic or private_key_jwt."
  }
  validation {
    condition = alltrue([for _, e in var.environments : (
      can(regex("^https://[^/?#]+", e.token_url)) ||
      can(regex("^http://(127\\.[0-9]+\\.[0-9]+\\.[0-9]+|localhost|\\[::1\\])(:[0-9]+)?/", e.token_url))
    )])
    error_message = "environments: token_url must be https:// (http:// only for a loopback test endpoint)."
  }
  validation {
    condition = alltrue([for _, e in var.environments : e.revocation_url == null || (
      can(regex("^https://[^/?#]+", coalesce(e.revocation_url, "https://x"))) ||
      can(regex("^http://(127\\.[0-9]+\\.[0-9]+\\.[0-9]+|localhost|\\[::1\\])(:[0-9]+)?/", coalesce(e.revocation_url, "https://x")))
    )])
    error_message = "environments: revocation_url must be https:// (http:// only for a loopback test endpoint)."
  }
  validation {
    # A keyless environment with client_id reads no credentials secret (locals.tf, secretless):
    # naming one would be a secret the job never reads, granted to its role all the same.
    condition = alltrue([for _, e in var.environments : !(
      e.client_id != null && (e.kms_key_id != null || e.signing_key_spec != null ||
      e.client_assertion_source != null || e.client_assertion_file != null) &&
      (e.credentials_secret_arn != null || e.credentials_secret_name != null || e.credentials_kms_key_arn != null)
    )])
    error_message = "environments: with client_id and kms_key_id, signing_key_spec, client_assertion_source or client_assertion_file the job reads no credentials secret; remove credentials_secret_arn, credentials_secret_name and credentials_kms_key_arn (or client_id, to keep the client id and a certificate in the secret)."
  }
  validation {
    condition = alltrue([for _, e in var.environments : (
      e.credentials_secret_arn == null || can(regex("^arn:[a-z-]+:secretsmanager:", e.credentials_secret_arn))
    )])
    error_message = "environments: credentials_secret_arn must be a Secrets Manager secret ARN."
  }
  validation {
    condition = alltrue([for _, e in var.environments : (
      e.credentials_kms_key_arn == null || can(regex("^arn:[a-z-]+:kms:[a-z0-9-]+:[0-9]{12}:key/", e.credentials_kms_key_arn))
    )])
    error_message = "environments: credentials_kms_key_arn must be a KMS key ARN (arn:...:key/...), not an alias."
  }
  validation {
    condition     = alltrue([for _, e in var.environments : alltrue([for r in e.consumer_role_arns : can(regex("^arn:[a-z-]+:iam::[0-9]{12}:role/", r))])])
    error_message = "environments: consumer_role_arns must be IAM role ARNs."
  }
}

variable "job_defaults" {
  description = "The job's [defaults] table (see the README's configuration table): values every environment gets unless it sets its own, and the run-wide run_timeout_seconds (Lambda replaces it with the invocation's remaining time), max_workers and aws_max_attempts. null leaves the job's own default."
  type = object({
    refresh_margin_seconds     = optional(number)
    max_attempts               = optional(number)
    timeout_seconds            = optional(number)
    backoff_initial_seconds    = optional(number)
    backoff_max_seconds        = optional(number)
    rate_limit_per_second      = optional(number)
    rate_limit_burst           = optional(number)
    rate_limit_lockout_seconds = optional(number)
    default_lifetime_seconds   = optional(number)
    max_lifetime_seconds       = optional(number)
    endpoint_params            = optional(map(list(string)))
    # Run-wide: only in [defaults].
    run_timeout_seconds = optional(number)
    max_workers         = optional(number)
    aws_max_attempts    = optional(number)
    # The interval of the scheduled runs, for the write-budget arithmetic (docs/behaviour.md). null:
    # the module sets it from schedule_expression (a rate() or an every-N-minutes cron()).
    schedule_seconds = optional(number)
  })
  default = {}
}

variable "secret_name_prefix" {
  description = "Prefix of the default secret names: <prefix>/<env>/client-credentials and <prefix>/<env>/access-token."
  type        = string
  default     = "sync-job"
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret stays recoverable (7-30), or 0 to delete at once (tests only)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days: 0 or 7-30."
  }
}

variable "operator_role_arns" {
  description = "IAM roles of the operators who run the runbook (sync-job status / check, rollback). Besides the job and the consumers, only these may read the token secrets and the credentials secrets this module creates."
  type        = list(string)
  default     = []
}

variable "lambda_package_path" {
  description = "Path to the Lambda zip built by `make package LAMBDA_ARCH=<lambda_architecture>` (dist/sync-job-lambda-x86_64.zip or dist/sync-job-lambda-arm64.zip): its compiled wheels (cryptography, cffi) are built for one architecture."
  type        = string
}

variable "lambda_architecture" {
  description = "The function's architecture: x86_64, or arm64 (Graviton, about 20% cheaper per GB-second). The package must be built for it (`make package LAMBDA_ARCH=arm64`)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture: x86_64 or arm64."
  }
}

variable "lambda_timeout_seconds" {
  description = "Function timeout. The job's run budget is the remaining time minus a 10 s safety margin."
  type        = number
  default     = 300
}

variable "lambda_memory_mb" {
  description = "Function memory."
  type        = number
  default     = 256
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions. 1 serializes runs: a second run could only add token requests against the same per-IP rate limit."
  type        = number
  default     = 1
}

variable "lambda_async_retry_attempts" {
  description = "Lambda's own retries of a failed scheduled run (0-2). 0 by default: the job already retries inside a run, and a whole new run a minute later mostly meets the same 429 lock-out."
  type        = number
  default     = 0
}

variable "log_level" {
  description = "The job's log level (SYNC_JOB_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    # The handler refuses any other value, in one line, before a run (sync_job/lambda_handler.py).
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], upper(var.log_level))
    error_message = "log_level: DEBUG, INFO, WARNING or ERROR."
  }
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the scheduled run. The default, with the job's default refresh margin (900 s), leaves a token that a failed run did not refresh 600 s or more for the next run (margin minus interval), at about 1.2-1.33 token requests an hour for 1-hour tokens (docs/infra.md, \"What the defaults cost\"). Keep refresh_margin_seconds minus the interval at 600 s or more."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    # A run refreshes a token once it has refresh_margin_seconds (M) or less left, so the run
    # before saw a little more than M; if the next run comes I >= M seconds later, the token has
    # expired (or expires in flight) first: a lapse every token lifetime with no outage at all.
    # I is computed for rate(...) and for cron(...) whose hours field is "*" (every minute, */N,
    # or a list of minutes: the longest gap, across the hour too); other cron(...) is not checked.
    # M is the smallest margin of any environment (its own, else job_defaults', else the job's
    # 900 s). Tokens that live no longer than M are refreshed at half their lifetime instead,
    # which Terraform cannot know (the job warns: `status`, `check`). Written out twice below
    # because a variable's validation cannot use locals derived from that same variable.
    condition     = alltrue([for I in [try(tonumber(regex("^rate\\(([0-9]+) minutes?\\)$", var.schedule_expression)[0]) * 60, tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.schedule_expression)[0]) * 3600, tonumber(regex("^rate\\(([0-9]+) days?\\)$", var.schedule_expression)[0]) * 86400, can(regex("^cron\\(\\* \\* ", var.schedule_expression)) ? 60 : tonumber("-"), 60 * tonumber(regex("^cron\\((?:\\*|0)/([0-9]+) \\* ", var.schedule_expression)[0]), 60 * max(flatten([for L in [[for m in sort([for x in split(",", regex("^cron\\(([0-9]+(?:,[0-9]+)*) \\* ", var.schedule_expression)[0]) : format("%02d", tonumber(x))]) : tonumber(m)]] : [for i, m in L : (i + 1 < length(L) ? L[i + 1] : L[0] + 60) - m]])...), null)] : I == null ? true : I < min(concat([for _, e in var.environments : coalesce(e.refresh_margin_seconds, var.job_defaults.refresh_margin_seconds, 900)], length(var.environments) == 0 ? [900] : [])...)])
    error_message = join("", [for I in [try(tonumber(regex("^rate\\(([0-9]+) minutes?\\)$", var.schedule_expression)[0]) * 60, tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.schedule_expression)[0]) * 3600, tonumber(regex("^rate\\(([0-9]+) days?\\)$", var.schedule_expression)[0]) * 86400, can(regex("^cron\\(\\* \\* ", var.schedule_expression)) ? 60 : tonumber("-"), 60 * tonumber(regex("^cron\\((?:\\*|0)/([0-9]+) \\* ", var.schedule_expression)[0]), 60 * max(flatten([for L in [[for m in sort([for x in split(",", regex("^cron\\(([0-9]+(?:,[0-9]+)*) \\* ", var.schedule_expression)[0]) : format("%02d", tonumber(x))]) : tonumber(m)]] : [for i, m in L : (i + 1 < length(L) ? L[i + 1] : L[0] + 60) - m]])...), null)] : "schedule_expression: ${var.schedule_expression} runs up to ${I} s apart, and the smallest refresh_margin_seconds is ${min(concat([for _, e in var.environments : coalesce(e.refresh_margin_seconds, var.job_defaults.refresh_margin_seconds, 900)], length(var.environments) == 0 ? [900] : [])...)} s. A run refreshes a token once it has ${min(concat([for _, e in var.environments : coalesce(e.refresh_margin_seconds, var.job_defaults.refresh_margin_seconds, 900)], length(var.environments) == 0 ? [900] : [])...)} s or less left, so the run before saw a little more; ${I} s later it has expired: a lapse every token lifetime with no outage at all (${min(concat([for _, e in var.environments : coalesce(e.refresh_margin_seconds, var.job_defaults.refresh_margin_seconds, 900)], length(var.environments) == 0 ? [900] : [])...)} - ${I} = ${min(concat([for _, e in var.environments : coalesce(e.refresh_margin_seconds, var.job_defaults.refresh_margin_seconds, 900)], length(var.environments) == 0 ? [900] : [])...) - I} s, must be > 0). Run more often (the default rate(5 minutes) leaves 900 - 300 = 600 s, room for one failed run), or raise refresh_margin_seconds." if I != null])
  }
}

variable "token_rotation_schedule_expression" {
  description = "Secrets Manager rotation schedule of the token secrets (rotation_rules.schedule_expression): each rotation is a forced refresh through the job's compare-and-swap, a backstop beside the job's own schedule, which keeps the tokens fresh; `aws secretsmanager rotate-secret` on a token secret refreshes it now. rate(N hours) with N at least 4 (Secrets Manager's shortest), rate(N days) or cron(...); null registers no rotation (Security Hub SecretsManager.1 then flags the token secrets)."
  type        = string
  default     = "rate(4 hours)"

  validation {
    condition = var.token_rotation_schedule_expression == null ? true : (
      can(regex("^cron\\(.+\\)$", var.token_rotation_schedule_expression)) ||
      can(regex("^rate\\([0-9]+ days?\\)$", var.token_rotation_schedule_expression)) ||
      try(tonumber(regex("^rate\\(([0-9]+) hours?\\)$", var.token_rotation_schedule_expression)[0]) >= 4, false)
    )
    error_message = "token_rotation_schedule_expression: rate(N hours) with N of 4 or more, rate(N days) or cron(...) (Secrets Manager rotates at most every 4 hours)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of cron() schedule expressions."
  type        = string
  default     = "UTC"
}

variable "schedule_enabled" {
  description = "false pauses the schedule (the function stays deployed)."
  type        = bool
  default     = true
}

variable "schedule_retry_attempts" {
  description = "EventBridge Scheduler retries of an invocation it could not deliver (throttled, service error)."
  type        = number
  default     = 3
}

variable "schedule_max_event_age_seconds" {
  description = "EventBridge Scheduler gives up (and sends the event to the dead-letter queue) after this long."
  type        = number
  default     = 600
}

variable "subnet_ids" {
  description = "Private subnets for the function (with a NAT gateway, for a static egress IP that a Paxos IP allowlist can name). Empty: no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups for the function when subnet_ids is set (egress 443 to the token host, and to Secrets Manager)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the function's log group."
  type        = number
  default     = 365
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the job's metrics (passed to the function as SYNC_JOB_METRICS_NAMESPACE)."
  type        = string
  default     = "SyncJob"

  validation {
    # CloudWatch's namespace rule (CloudWatch concepts, "Namespaces"), as the handler checks it
    # (sync_job/metrics.py, check_namespace): CloudWatch drops EMF lines of any other namespace.
    condition     = can(regex("^[0-9A-Za-z._/#: -]{1,255}$", var.metrics_namespace)) && trimspace(var.metrics_namespace) != "" && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace: 1-255 ASCII letters, digits, spaces and . - _ / # :, not only spaces, not starting with AWS/ (CloudWatch's namespace rule)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). null: alarms without actions."
  type        = string
  default     = null
}

variable "warning_sns_topic_arn" {
  description = "SNS topic of warnings that need action within weeks, not now (a client credential ending within credential_warning_days). null: alarm_sns_topic_arn."
  type        = string
  default     = null
}

variable "credential_warning_days" {
  description = "Warn when an environment's client credential (certificate notAfter, client_secret_expires_at) ends in fewer days than this."
  type        = number
  default     = 30

  validation {
    condition     = var.credential_warning_days >= 1 && floor(var.credential_warning_days) == var.credential_warning_days
    error_message = "credential_warning_days: a whole number of days, 1 or more."
  }
}

variable "credential_page_days" {
  description = "Page (alarm_sns_topic_arn) when an environment's client credential ends in fewer days than this; below credential_warning_days."
  type        = number
  default     = 7

  validation {
    condition     = var.credential_page_days >= 1 && floor(var.credential_page_days) == var.credential_page_days
    error_message = "credential_page_days: a whole number of days, 1 or more."
  }
}

variable "alarm_period_seconds" {
  description = "Period of the error and staleness alarms. Keep it at least twice the schedule's interval: a period without a run is missing data, which alarms."
  type        = number
  default     = 1800
}

variable "staleness_alarm_seconds" {
  description = "Default staleness threshold: alarm when a run leaves a token with less life than this. With the default schedule and margin, a healthy run never leaves less than the margin (900 s), and the second failed run in a row leaves less than 600 s: the alarm fires 300-600 s before the token expires (docs/infra.md has the timeline)."
  type        = number
  default     = 600
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the key is deleted after a destroy (7-30)."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
