# The job's role: exactly the calls the job makes, on exactly its own secrets, key, log group
# and dead-letter queue. No secretsmanager or kms action is allowed on "*"
# (tests/infra/test_terraform_apply.py reads the applied policies and fails if one is).

data "aws_iam_policy_document" "job_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "job" {
  name                 = "${var.name}-job"
  description          = "${var.name}: the token refresh function"
  assume_role_policy   = data.aws_iam_policy_document.job_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

data "aws_iam_policy_document" "job" {
  # Both only where some environment reads a credentials secret: with every environment
  # secretless (locals.tf) there is none, and a statement without resources is not a policy.
  dynamic "statement" {
    for_each = length(local.credentials_secret_arns) > 0 ? [1] : []
    content {
      sid       = "ReadClientCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = sort(values(local.credentials_secret_arns))
    }
  }

  dynamic "statement" {
    # `credentials promote` (sync_job/staged_credentials.py): the job tests the AWSPENDING
    # credentials an operator staged from its own egress, then moves AWSCURRENT to them. Moving
    # labels only: the job never writes a credentials value.
    for_each = length(local.credentials_secret_arns) > 0 ? [1] : []
    content {
      sid       = "PromoteStagedClientCredentials"
      actions   = ["secretsmanager:DescribeSecret", "secretsmanager:UpdateSecretVersionStage"]
      resources = sort(values(local.credentials_secret_arns))
    }
  }

  statement {
    sid = "ReadAndPublishTokens"
    actions = [
      "secretsmanager:GetSecretValue",
      "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
      "secretsmanager:DescribeSecret",
    ]
    resources = sort(values(local.token_secret_arns))
  }

  statement {
    # A run reads up to 20 secrets a call. BatchGetSecretValue has no resource type, so it can
    # only be granted on "*", and it grants nothing by itself: each secret in a batch still needs
    # the GetSecretValue granted above (and the job falls back to GetSecretValue per secret if
    # this statement is missing).
    sid       = "BatchReadsNeedGetSecretValueOnEachSecret"
    actions   = ["secretsmanager:BatchGetSecretValue"]
    resources = ["*"]
  }

  statement {
    # Decrypt reads a secret, GenerateDataKey writes one; both only through Secrets Manager and
    # only for this module's secrets (Secrets Manager puts the secret's ARN in the context).
    sid       = "UseTheKeyForTheseSecretsOnly"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = sort(concat(values(local.token_secret_arns), values(local.credentials_secret_arns)))
    }
  }

  dynamic "statement" {
    # private_key_jwt signed by KMS (issue 20): sign and read the public key, nothing else, on
    # the environments' signing keys only (kms.tf, or kms_key_id).
    for_each = length(local.signing_key_arns) > 0 ? [1] : []
    content {
      sid       = "SignClientAssertions"
      actions   = ["kms:Sign", "kms:GetPublicKey"]
      resources = sort(distinct(values(local.signing_key_arns)))
    }
  }

  dynamic "statement" {
    # Federated client assertions from AWS (client_assertion_source = "aws_sts"): a web-identity
    # token of the job's own role. The action names no resource (it acts on the caller itself).
    for_each = anytrue([for _, env in local.envs : env.client_assertion_source == "aws_sts"]) ? [1] : []
    content {
      sid       = "WebIdentityTokensForClientAssertions"
      actions   = ["sts:GetWebIdentityToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    # Existing credentials secrets encrypted with a key of their own.
    for_each = length(local.external_credentials_key_arns) > 0 ? [1] : []
    content {
      sid       = "DecryptExistingCredentialsSecrets"
      actions   = ["kms:Decrypt"]
      resources = local.external_credentials_key_arns
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
    }
  }

  statement {
    sid       = "WriteItsOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.job.arn}:*"]
  }

  statement {
    sid       = "DeadLetterFailedAsyncInvocations"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }
}

resource "aws_iam_role_policy" "job" {
  name   = "${var.name}-job"
  role   = aws_iam_role.job.id
  policy = data.aws_iam_policy_document.job.json
}

# Only with subnet_ids: the ENI permissions Lambda needs to run in a VPC (AWS managed policy).
resource "aws_iam_role_policy_attachment" "job_vpc" {
  count      = length(var.subnet_ids) > 0 ? 1 : 0
  role       = aws_iam_role.job.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# EventBridge Scheduler's role: invoke this one function, dead-letter to this one queue.
data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  name                 = "${var.name}-scheduler"
  description          = "${var.name}: EventBridge Scheduler invoking the token refresh function"
  assume_role_policy   = data.aws_iam_policy_document.scheduler_assume.json
  max_session_duration = 3600
  tags                 = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "InvokeTheFunction"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.job.arn, "${aws_lambda_function.job.arn}:*"]
  }
  statement {
    sid       = "DeadLetterUndeliveredEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "${var.name}-scheduler"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
