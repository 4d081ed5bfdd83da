# Secrets Manager's rotation protocol on the token secrets (sync_job/secret_rotation.py): the
# job's own function answers createSecret/setSecret/testSecret/finishSecret through the same
# compare-and-swap as every run, so `aws secretsmanager rotate-secret --secret-id <token secret>`
# is "refresh now", and the rotation schedule is a backstop beside the job's schedule (Security
# Hub control SecretsManager.1, checkov CKV2_AWS_57). The client-credentials secrets are not
# rotated here: the provider issues the client secret (docs/runbook.md "Rotate a client secret").

resource "aws_lambda_permission" "secrets_manager_rotation" {
  statement_id   = "SecretsManagerRotatesTheTokenSecrets"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.job.function_name
  principal      = "secretsmanager.amazonaws.com"
  source_account = local.account_id
}

resource "aws_secretsmanager_secret_rotation" "token" {
  for_each = var.token_rotation_schedule_expression == null ? {} : local.envs

  secret_id           = aws_secretsmanager_secret.token[each.key].id
  rotation_lambda_arn = aws_lambda_function.job.arn
  # Registering a rotation must not request a token: right after the first apply the
  # credentials secret has no value yet. Secrets Manager then runs only testSecret, which passes
  # on a version without a value.
  rotate_immediately = false

  rotation_rules {
    schedule_expression = var.token_rotation_schedule_expression
  }

  depends_on = [aws_lambda_permission.secrets_manager_rotation]
}
