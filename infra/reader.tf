# What a consumer team needs to read one environment's token: an identity policy to attach to
# their role. It is the same for a role of this account and of another one; a role of another
# account also needs this module's resource side, which listing it in the environment's
# consumer_role_arns adds: the token secret's resource policy (ConsumersReadTheToken) and the
# key policy (ConsumersDecryptTokenSecretsThroughSecretsManager). A role of this account needs
# consumer_role_arns too: the token secret's resource policy denies GetSecretValue to every
# principal it does not name.

data "aws_iam_policy_document" "reader" {
  for_each = local.envs

  statement {
    sid       = "ReadTheToken"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = [aws_secretsmanager_secret.token[each.key].arn]
  }

  statement {
    # The token secret is encrypted with this module's customer-managed key: GetSecretValue
    # decrypts with the caller's own kms:Decrypt, through Secrets Manager, for this secret only.
    sid       = "DecryptTheTokenSecretThroughSecretsManager"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.this.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:SecretARN"
      values   = [aws_secretsmanager_secret.token[each.key].arn]
    }
  }
}
