variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the function and prefix of every other resource."
  type        = string
  default     = "paxos-sync-job"
}

variable "environments_enabled" {
  description = "Which Paxos environments this deployment keeps tokens for."
  type        = list(string)
  default     = ["sandbox", "production"]

  validation {
    condition     = length(var.environments_enabled) > 0 && alltrue([for e in var.environments_enabled : contains(["sandbox", "production"], e)])
    error_message = "environments_enabled: a non-empty list of \"sandbox\" and/or \"production\"."
  }
}

variable "token_urls" {
  description = "Token URL per environment, to override Paxos's (tests point them at a local endpoint)."
  type        = map(string)
  default     = {}
}

variable "scopes" {
  description = "Scopes per environment, to override the full mint/redeem/convert list. Ask only for what the client id was granted."
  type        = map(list(string))
  default     = {}
}

variable "consumer_role_arns" {
  description = "Per environment, the IAM roles of the workloads that read the token."
  type        = map(list(string))
  default     = {}
}

variable "operator_role_arns" {
  description = "IAM roles of the operators who run docs/runbook.md."
  type        = list(string)
  default     = []
}

variable "existing_credentials_secret_arns" {
  description = "Per environment, an existing client-credentials secret to use instead of creating paxos/<env>/client-credentials."
  type        = map(string)
  default     = {}
}

variable "lambda_package_path" {
  description = "The zip from `make package LAMBDA_ARCH=<lambda_architecture>`; null: dist/sync-job-lambda-<lambda_architecture>.zip of this repository."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "x86_64, or arm64 (Graviton: cheaper per GB-second; build the zip with `make package LAMBDA_ARCH=arm64`)."
  type        = string
  default     = "x86_64"
}

variable "schedule_expression" {
  description = "How often the job runs. Keep the refresh margin (900 s) minus the interval at 600 s or more, so that one failed run never lets a token lapse."
  type        = string
  default     = "rate(5 minutes)"
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for the alarms (e.g. wired to the on-call pager); null: no notification."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets behind a NAT gateway, when the Paxos client has an IP allowlist (its egress IP is the NAT's Elastic IP)."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the function when subnet_ids is set."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the function's logs."
  type        = number
  default     = 365
}

variable "secret_recovery_window_days" {
  description = "Recovery window of deleted secrets (0 only for throwaway test stacks)."
  type        = number
  default     = 30
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the key is deleted after a destroy."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = { "app" = "sync-job", "owner" = "payments-platform" }
}
