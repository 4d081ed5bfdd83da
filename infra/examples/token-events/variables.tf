variable "region" {
  description = "Region of the token secrets (Secrets Manager sends its events to the default bus of the secret's region)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Prefix of the rule and queue names."
  type        = string
  default     = "sync-job-token-published"
}

variable "token_secret_arns" {
  description = "ARNs of the token secrets to watch: the sync_job module's `token_secret_arns` output (values), e.g. `values(module.sync_job.token_secret_arns)`."
  type        = list(string)

  validation {
    condition     = length(var.token_secret_arns) > 0 && alltrue([for a in var.token_secret_arns : can(regex("^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:", a))])
    error_message = "token_secret_arns: one or more Secrets Manager secret ARNs (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX)."
  }
}

variable "consumer_role_arns" {
  description = "Roles that may receive and delete the queue's messages (the consumers that drop their cache)."
  type        = list(string)
  default     = []
}
