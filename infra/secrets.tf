# The token secrets (the job writes them; consumers read them) and the client-credentials
# secrets (operators put the value out of band; only the job reads it). No secret value is
# ever given to Terraform, so none lands in its state or plan.

resource "aws_secretsmanager_secret" "token" {
  for_each = local.envs

  name                    = each.value.token_secret_name
  description             = "${var.name}: OAuth2 access token for ${each.key}, written by the job (payload schema in the README)"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(local.tags, { "sync-job:environment" = each.key, "sync-job:role" = "token" })
}

resource "aws_secretsmanager_secret" "credentials" {
  #checkov:skip=CKV2_AWS_57:The client secret is issued by the OAuth2 provider (Paxos: Dashboard > API Management > Rotate Credentials), which offers no API to rotate it; docs/runbook.md has the manual rotation with its proof.
  for_each = local.created_credentials

  name                    = each.value.credentials_secret_name
  description             = "${var.name}: OAuth2 client credentials for ${each.key}, JSON {\"client_id\", \"client_secret\"}; value put by operators, never by Terraform"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(local.tags, { "sync-job:environment" = each.key, "sync-job:role" = "credentials" })
}

locals {
  # Principals that may read a token besides its consumers: the job and the operators.
  trusted_reader_arns = concat([aws_iam_role.job.arn], var.operator_role_arns)
}

data "aws_iam_policy_document" "token_secret" {
  for_each = local.envs

  dynamic "statement" {
    for_each = length(each.value.consumer_role_arns) > 0 ? [1] : []
    content {
      sid       = "ConsumersReadTheToken"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = [aws_secretsmanager_secret.token[each.key].arn]
      principals {
        type        = "AWS"
        identifiers = each.value.consumer_role_arns
      }
    }
  }

  statement {
    sid       = "NobodyElseReadsTheToken"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.token[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = concat(local.trusted_reader_arns, each.value.consumer_role_arns)
    }
  }

  statement {
    sid       = "OnlyTheJobAndOperatorsWriteTheToken"
    effect    = "Deny"
    actions   = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]
    resources = [aws_secretsmanager_secret.token[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.trusted_reader_arns
    }
  }
}

resource "aws_secretsmanager_secret_policy" "token" {
  for_each = local.envs

  secret_arn          = aws_secretsmanager_secret.token[each.key].arn
  policy              = data.aws_iam_policy_document.token_secret[each.key].json
  block_public_policy = true
}

data "aws_iam_policy_document" "credentials_secret" {
  for_each = local.created_credentials

  statement {
    sid       = "OnlyTheJobAndOperatorsReadTheClientSecret"
    effect    = "Deny"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.credentials[each.key].arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.trusted_reader_arns
    }
  }
}

resource "aws_secretsmanager_secret_policy" "credentials" {
  for_each = local.created_credentials

  secret_arn          = aws_secretsmanager_secret.credentials[each.key].arn
  policy              = data.aws_iam_policy_document.credentials_secret[each.key].json
  block_public_policy = true
}
