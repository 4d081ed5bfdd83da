#!/usr/bin/env bash
# The hand-written alternative to `sync-job run`, as a cron line would do it: for each environment,
# in sequence, read the client credentials, request a token with curl, store it with the AWS CLI.
#
#   bash bench/shell_loop.sh ENVIRONMENTS_FILE
#
# ENVIRONMENTS_FILE: one environment a line, "name token_url credentials_secret token_secret scope..."
# (the scope is the rest of the line). AWS_ENDPOINT_URL, the region and credentials come from the
# environment, as for the job. What it does not do, on purpose (it is the baseline): no freshness
# check (a token request and a write every run), no pacing, no retries, no scope check; and the
# client secret is on curl's command line, so `ps` shows it while curl runs.
set -euo pipefail

while read -r name token_url credentials_secret token_secret scope <&3; do
  creds=$(aws secretsmanager get-secret-value --secret-id "$credentials_secret" \
    --query SecretString --output text)
  client_id=$(jq -r .client_id <<<"$creds")
  client_secret=$(jq -r .client_secret <<<"$creds")
  response=$(curl -sS --fail --max-time 10 --noproxy '*' -X POST "$token_url" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$client_id" \
    --data-urlencode "client_secret=$client_secret" \
    --data-urlencode "scope=$scope")
  payload=$(jq -c --arg env "$name" \
    '. + {environment: $env, expires_at: (now + .expires_in | floor | todate)}' <<<"$response")
  aws secretsmanager put-secret-value --secret-id "$token_secret" --secret-string "$payload" >/dev/null
done 3<"$1"
