resource "aws_cloudwatch_log_group" "job" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

# Scheduled events that could not be delivered (EventBridge Scheduler) or whose run failed
# after Lambda's own retries (the function's dead-letter config) land here for 14 days.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dead-letter"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = local.tags
}

resource "aws_lambda_function" "job" {
  #checkov:skip=CKV_AWS_50:X-Ray adds nothing here: a run is one Secrets Manager read and at most a few token requests per environment, and the job's JSON logs and EMF metrics already time each of them.
  #checkov:skip=CKV_AWS_272:The zip is built reproducibly by `make package` (two builds, one sha256) and its hash is pinned in source_code_hash; Lambda code signing needs an AWS Signer profile that this module leaves to the deployer.
  function_name = local.function_name
  description   = "sync-job: keeps OAuth2 client-credentials tokens fresh in Secrets Manager"
  role          = aws_iam_role.job.arn
  runtime       = "python3.12"
  architectures = [var.lambda_architecture]
  handler       = "sync_job.lambda_handler.handler"

  filename         = var.lambda_package_path
  source_code_hash = filebase64sha256(var.lambda_package_path)

  timeout                        = var.lambda_timeout_seconds
  memory_size                    = var.lambda_memory_mb
  reserved_concurrent_executions = var.reserved_concurrency
  kms_key_arn                    = aws_kms_key.this.arn

  environment {
    variables = {
      SYNC_JOB_CONFIG_TOML       = module.config.toml
      SYNC_JOB_LOG_LEVEL         = var.log_level
      SYNC_JOB_METRICS_NAMESPACE = var.metrics_namespace
    }
  }

  dead_letter_config {
    target_arn = aws_sqs_queue.dead_letter.arn
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = local.tags

  lifecycle {
    precondition {
      condition     = length(var.subnet_ids) == 0 || length(var.security_group_ids) > 0
      error_message = "subnet_ids is set: security_group_ids must name at least one security group."
    }
    # A zip of the other architecture imports, and fails only when private_key_jwt loads
    # cryptography's compiled module: refuse the mismatch `make package` names would show.
    precondition {
      condition = !can(regex("sync-job-lambda-(x86_64|arm64)\\.zip$", var.lambda_package_path)) || endswith(
        var.lambda_package_path, "sync-job-lambda-${var.lambda_architecture}.zip"
      )
      error_message = "lambda_package_path is a package for another architecture than lambda_architecture: build it with `make package LAMBDA_ARCH=<lambda_architecture>`."
    }
  }

  depends_on = [
    aws_cloudwatch_log_group.job,
    aws_iam_role_policy.job,
    aws_iam_role_policy_attachment.job_vpc,
  ]
}

resource "aws_lambda_function_event_invoke_config" "job" {
  function_name                = aws_lambda_function.job.function_name
  maximum_retry_attempts       = var.lambda_async_retry_attempts
  maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
}
