# Consumers learn of a new token at once: an EventBridge rule on Secrets Manager's native
# "Secret Label Updated" event, for AWSCURRENT on the token secrets only, delivered to an SQS
# queue that consumers poll (on a message: TokenReader.invalidate(), docs/consumers.md).
#
# Secrets Manager sends "Secret Label Updated" when a staging label moves to a new version, for
# every label except AWSPENDING and AWSPREVIOUS (Secrets Manager User Guide, "Secret Label
# Updated event"; detail: name, labelUpdated, versionId; resources: the secret's ARN). sync-job
# publishes in two moves: PutSecretValue under its own label SYNCJOB_PENDING (which fires the
# event too), then UpdateSecretVersionStage moving AWSCURRENT. Only the second means "a new
# token is published", so the pattern (event_pattern.json) matches labelUpdated AWSCURRENT only.
# The native event needs no CloudTrail trail. Delivery is best effort: consumers still check
# expires_at and re-read on a 401.

resource "aws_cloudwatch_event_rule" "token_published" {
  name        = var.name
  description = "sync-job published a new token: AWSCURRENT moved on a token secret."
  event_pattern = jsonencode(merge(
    jsondecode(file("${path.module}/event_pattern.json")),
    { resources = var.token_secret_arns },
  ))
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600 # 14 days, to look at what could not be delivered
}

resource "aws_sqs_queue" "events" {
  name                    = var.name
  sqs_managed_sse_enabled = true
  # A hint older than a token's life is worthless: the token it announced has expired.
  message_retention_seconds = 3600
  receive_wait_time_seconds = 20 # long polling
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = 5
  })
}

data "aws_iam_policy_document" "events_queue" {
  statement {
    sid       = "EventBridgeSendsTheRulesEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.token_published.arn]
    }
  }

  dynamic "statement" {
    for_each = length(var.consumer_role_arns) > 0 ? [1] : []
    content {
      sid       = "ConsumersReceiveTheEvents"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.events.arn]
      principals {
        type        = "AWS"
        identifiers = var.consumer_role_arns
      }
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy    = data.aws_iam_policy_document.events_queue.json
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.token_published.name
  target_id = "consumers"
  arn       = aws_sqs_queue.events.arn

  retry_policy {
    maximum_event_age_in_seconds = 600
    maximum_retry_attempts       = 10
  }
}
