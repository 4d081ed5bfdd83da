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
    name, the metric dimension and part of the default secret names). Per environment:
      token_url               token endpoint (https://; http:// only for loopback test hosts)
      scopes                  scopes to request (and to require in the answer)
      auth_method             client_secret_post (Paxos) | client_secret_basic | private_key_jwt
      refresh_margin_seconds  refresh when this much life or less is left (null: job_defaults)
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
    token_url               = string
    scopes                  = optional(list(string), [])
    auth_method             = optional(string, "client_secret_post")
    refresh_margin_seconds  = optional(number)
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
  description = "The job's [defaults] table (see the README's configuration table); null leaves the job's own default."
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
    max_workers                = optional(number)
    aws_max_attempts           = optional(number)
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
  description = "Path to the Lambda zip built by `make package` (dist/sync-job-lambda.zip)."
  type        = string
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
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression of the scheduled run."
  type        = string
  default     = "rate(15 minutes)"
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
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify (alarm and OK). null: alarms without actions."
  type        = string
  default     = null
}

variable "alarm_period_seconds" {
  description = "Period of the error and staleness alarms. Keep it at least twice the schedule's interval: a period without a run is missing data, which alarms."
  type        = number
  default     = 1800
}

variable "staleness_alarm_seconds" {
  description = "Default staleness threshold: alarm when a run leaves a token with less life than this."
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
