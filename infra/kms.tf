# One customer-managed key for everything this module stores: the token secrets, the
# client-credentials secrets it creates, the function's environment and its log group.
# One key means one key policy to review and one CloudTrail trail to read; who may use it for
# which secret is narrowed by the encryption context (kms:EncryptionContext:SecretARN) in the
# job's role and in the consumers' statement below.

data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_109:Key policy. Resource "*" in a key policy means this key only; the statement is the standard delegation to the account's IAM policies, without which the key is unmanageable.
  #checkov:skip=CKV_AWS_111:Key policy. Resource "*" in a key policy means this key only (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:Key policy. Resource "*" in a key policy means this key only (see CKV_AWS_109).
  statement {
    sid       = "AccountAdministersTheKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsEncryptsTheFunctionLogGroup"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }

  dynamic "statement" {
    # Consumers may be roles of other accounts, whose IAM policies alone cannot grant use of
    # this key: name them here, for decryption of the token secrets through Secrets Manager only.
    for_each = length(local.consumer_role_arns) > 0 ? [1] : []
    content {
      sid       = "ConsumersDecryptTokenSecretsThroughSecretsManager"
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = local.consumer_role_arns
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["secretsmanager.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SecretARN"
        values   = local.token_secret_arn_patterns
      }
    }
  }
}

locals {
  consumer_role_arns = sort(distinct(flatten([for _, env in local.envs : env.consumer_role_arns])))
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: OAuth2 token and client-credentials secrets, function environment and logs"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# --- private_key_jwt signing keys (issue 20): the key material never leaves KMS ---------------
# Per environment with signing_key_spec: an asymmetric SIGN_VERIFY key whose policy lets the
# account administer it through IAM and lets the job's role only sign with it and read its
# public key. Environments with kms_key_id bring their own key; the job's role is granted the
# same two actions on it (iam.tf). KMS rotates no asymmetric key: rotate by creating a new one,
# registering its public key (output signing_public_keys_pem, or as a JWKS `sync-job jwks ENV`) and switching.

locals {
  signing_key_envs = { for name, env in local.envs : name => env if env.signing_key_spec != null }
  signing_key_arns = merge(
    { for name, env in local.envs : name => env.kms_key_id if env.kms_key_id != null },
    { for name, _ in local.signing_key_envs : name => aws_kms_key.signing[name].arn },
  )
}

data "aws_iam_policy_document" "signing_key" {
  #checkov:skip=CKV_AWS_109:Key policy. Resource "*" in a key policy means this key only; the statement is the standard delegation to the account's IAM policies, without which the key is unmanageable.
  #checkov:skip=CKV_AWS_111:Key policy. Resource "*" in a key policy means this key only (see CKV_AWS_109).
  #checkov:skip=CKV_AWS_356:Key policy. Resource "*" in a key policy means this key only (see CKV_AWS_109).
  for_each = local.signing_key_envs

  statement {
    sid       = "AccountAdministersTheKeyThroughIAM"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "JobSignsClientAssertionsOnly"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.job.arn]
    }
  }
}

resource "aws_kms_key" "signing" {
  # No enable_key_rotation: KMS rotates symmetric keys only (rotate by a new key, see above).
  for_each = local.signing_key_envs

  description              = "${var.name}: ${each.key} private_key_jwt signing key (never leaves KMS)"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = each.value.signing_key_spec
  deletion_window_in_days  = var.kms_deletion_window_days
  policy                   = data.aws_iam_policy_document.signing_key[each.key].json
  tags                     = local.tags
}

resource "aws_kms_alias" "signing" {
  for_each = local.signing_key_envs

  name          = "alias/${var.name}-${each.key}-signing"
  target_key_id = aws_kms_key.signing[each.key].key_id
}

data "aws_kms_public_key" "signing" {
  for_each = local.signing_key_envs

  key_id = aws_kms_key.signing[each.key].arn
}
