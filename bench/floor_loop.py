"""The library floor of a refresh run: exactly the job's calls, nothing else (`make bench` figure 7).

    python -m bench.floor_loop ENVS.json [--workers 64]

ENVS.json lists the environments as ``[{"token_url", "client_id", "credentials_secret",
"token_secret", "scopes"}, ...]``. Like ``sync-job run --force`` (store.py, token_client.py), it
reads every credentials and token secret with BatchGetSecretValue (20 ids a call), then for each
environment, on a pool of ``--workers`` threads: one token request (client_secret_post, the job's default:
RFC 6749 §2.3.1 and §4.4), PutSecretValue under a private label, and UpdateSecretVersionStage moving
AWSCURRENT from the version read (the job's compare-and-swap). Same libraries, same client
settings (botocore standard retries, requests with a keep-alive pool), no configuration
parsing, validation, logging, redaction, pacing, deadlines or metrics: what any code making these
calls pays. Its writes keep the job's pace under Secrets Manager's quota (a sleep, no CPU).
The bench divides the job's CPU per environment by this loop's.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import botocore.session
import requests
from botocore.config import Config as BotoConfig

from sync_job.pacing import SECRETS_WRITE_BURST, SECRETS_WRITE_RATE

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

BATCH = 20  # BatchGetSecretValue's SecretIdList limit


class WriteBucket:
    """The job's pace of Secrets Manager writes (pacing.SECRETS_WRITE_RATE, under the 50/s
    quota; the stand-in throttles past it), as a plain token bucket: a wait, not CPU."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = float(SECRETS_WRITE_BURST)
        self._last = time.monotonic()

    def take(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(SECRETS_WRITE_BURST, self._tokens + (now - self._last) * SECRETS_WRITE_RATE)
            self._last = now
            self._tokens -= 1
            wait = max(0.0, -self._tokens / SECRETS_WRITE_RATE)
        time.sleep(wait)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("envs", type=Path)
    parser.add_argument("--workers", type=int, default=64)
    args = parser.parse_args(argv)
    envs: list[dict[str, Any]] = json.loads(args.envs.read_text())

    config = BotoConfig(
        retries={"mode": "standard", "total_max_attempts": 5},
        connect_timeout=5,
        read_timeout=15,
        max_pool_connections=16,
    )
    sm = cast(
        "SecretsManagerClient",
        botocore.session.get_session().create_client("secretsmanager", config=config),
    )
    writes = WriteBucket()
    ids = [i for e in envs for i in (e["credentials_secret"], e["token_secret"])]
    values: dict[str, Any] = {}
    for start in range(0, len(ids), BATCH):
        answer = sm.batch_get_secret_value(SecretIdList=ids[start : start + BATCH])
        values.update({v["Name"]: v for v in answer["SecretValues"]})
    http = requests.Session()

    def refresh(env: dict[str, Any]) -> None:
        creds = json.loads(values[env["credentials_secret"]]["SecretString"])
        answer = http.post(
            env["token_url"],
            data={
                "grant_type": "client_credentials",
                "scope": " ".join(env["scopes"]),
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            },
            timeout=(5, 15),
        )
        answer.raise_for_status()
        token = answer.json()
        now = int(time.time())
        payload = {
            "access_token": token["access_token"],
            "token_type": token["token_type"],
            "expires_at": now + int(token["expires_in"]),
            "issued_at": now,
            "scope": token.get("scope", ""),
        }
        version = str(uuid.uuid4())
        writes.take()
        sm.put_secret_value(
            SecretId=env["token_secret"],
            ClientRequestToken=version,
            SecretString=json.dumps(payload),
            VersionStages=["SYNCJOB_PENDING"],
        )
        writes.take()
        sm.update_secret_version_stage(
            SecretId=env["token_secret"],
            VersionStage="AWSCURRENT",
            MoveToVersionId=version,
            RemoveFromVersionId=values[env["token_secret"]]["VersionId"],
        )

    with ThreadPoolExecutor(max_workers=min(args.workers, len(envs))) as pool:
        for done in pool.map(refresh, envs):
            del done
    return 0


if __name__ == "__main__":
    sys.exit(main())
