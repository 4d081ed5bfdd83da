output "rule_arn" {
  description = "The EventBridge rule matching AWSCURRENT moves on the token secrets."
  value       = aws_cloudwatch_event_rule.token_published.arn
}

output "queue_url" {
  description = "The queue consumers poll (long polling, 20 s); each message is one Secret Label Updated event."
  value       = aws_sqs_queue.events.id
}

output "event_pattern" {
  description = "The rule's event pattern, as EventBridge gets it."
  value       = aws_cloudwatch_event_rule.token_published.event_pattern
}
