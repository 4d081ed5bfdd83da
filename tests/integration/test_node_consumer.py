"""examples/node-consumer (Node.js, @aws-sdk/client-secrets-manager from npm, pinned by its
package-lock.json) against moto's Secrets Manager over real HTTP (AWS_ENDPOINT_URL) and the
job's real output: it reads AWSCURRENT, applies the one validity rule (more than 60 s left) at
its edge, caches by expires_at, shares one read among concurrent callers, drops its cache on
invalidate(), and refuses what the Python reader refuses, naming the secret, never the token.

`npm ci` runs once per lock file into build/node-consumer-<hash of the lock>/ (a file lock keeps
two pytest workers from racing); skipped, with the reason, where node or npm is not installed."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from standins.aws import DUMMY_AWS
from standins.fakes import token_doc
from standins.harness import Harness
from standins.moto_server import MotoServer
from sync_job import bearer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "node-consumer"
PROBE = ROOT / "standins" / "node_probe.mjs"
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
MARK = "tok-node-LEAKMARK"


@dataclass(frozen=True)
class NodeConsumer:
    node: str
    directory: Path
    endpoint: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env.update(DUMMY_AWS, AWS_ENDPOINT_URL=self.endpoint, NO_PROXY="127.0.0.1,localhost")
        return env

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.node, *args],
            cwd=self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def probe(self, steps: list[dict[str, Any]], now: datetime = NOW) -> tuple[list[dict[str, Any]], int]:
        proc = self.run("probe.mjs", json.dumps({"now": now.isoformat(), "steps": steps}))
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        return out["results"], out["calls"]


def _install(directory: Path, npm: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest worker may be installing
        stamp = directory / "node_modules" / ".package-lock.json"
        if not stamp.exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(EXAMPLE / name, directory / name)
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                pytest.fail(f"npm ci in {directory} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")


@pytest.fixture(scope="session")
def node_consumer(moto_server: MotoServer) -> Iterator[NodeConsumer]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not installed (.ci/run installs Debian's nodejs and npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < 18:
        pytest.skip(f"the Node consumer needs node 18 or later, found {version.strip()}")
    lock = hashlib.sha256((EXAMPLE / "package-lock.json").read_bytes()).hexdigest()[:12]
    directory = ROOT / "build" / f"node-consumer-{lock}"
    _install(directory, npm)
    # The sources are copied every session, so an edit is tested without a new `npm ci`.
    for source in EXAMPLE.glob("*.mjs"):
        shutil.copy2(source, directory / source.name)
    shutil.copy2(PROBE, directory / "probe.mjs")
    yield NodeConsumer(node, directory, moto_server.endpoint)


def test_the_node_reader_states_the_same_rule() -> None:
    import re

    source = (EXAMPLE / "reader.mjs").read_text()
    found = re.search(r"export const EXPIRY_SKEW_SECONDS = (\d+);", source)
    assert found is not None and int(found.group(1)) == bearer.EXPIRY_SKEW_SECONDS
    lock = json.loads((EXAMPLE / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@aws-sdk/client-secrets-manager"]
    assert json.loads((EXAMPLE / "package.json").read_text())["dependencies"] == {
        "@aws-sdk/client-secrets-manager": pinned["version"]
    }
    assert pinned["integrity"].startswith("sha512-")


def put(sm: Any, name: str, left: float, token: str = MARK, now: datetime = NOW) -> dict[str, Any]:
    doc = token_doc(token, now + timedelta(seconds=left))
    sm.create_secret(Name=name, SecretString=json.dumps(doc))
    return doc


def test_reads_what_the_job_published(harness: Harness, node_consumer: NodeConsumer) -> None:
    harness.add_env("sandbox")
    assert harness.cli("run").exit_code == 0
    stored = harness.stored("sandbox")
    assert stored is not None
    proc = node_consumer.run("token.mjs", harness.token_secret("sandbox"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == stored["access_token"] + "\n"
    # The probe's reader on the real clock agrees, and one read serves both calls.
    secret = harness.token_secret("sandbox")
    results, calls = node_consumer.probe(
        [{"op": "token", "secret": secret}, {"op": "token", "secret": secret}], now=datetime.now(UTC)
    )
    assert [r.get("token") for r in results] == [stored["access_token"]] * 2 and calls == 1


@pytest.mark.parametrize(("left", "usable"), [(-1, False), (0, False), (59, False), (60, False), (61, True)])
def test_the_one_rule_at_its_edge(
    sm: Any, secret_name: str, node_consumer: NodeConsumer, left: int, usable: bool
) -> None:
    assert bearer.is_usable(NOW + timedelta(seconds=left), NOW) is usable
    put(sm, secret_name, left)
    results, calls = node_consumer.probe([{"op": "token", "secret": secret_name}])
    if usable:
        assert results == [{"token": MARK}]
    else:
        assert results[0]["error"] == "TokenExpiredError"
        assert results[0]["secondsLeft"] == left
        assert secret_name in results[0]["message"] and MARK not in results[0]["message"]
    assert calls == 1


def test_caches_until_expires_at_minus_the_skew_then_reads_again(
    sm: Any, secret_name: str, node_consumer: NodeConsumer
) -> None:
    put(sm, secret_name, 3599)
    token = {"op": "token", "secret": secret_name}
    results, calls = node_consumer.probe(
        [token, {"op": "advance", "seconds": 3538}, token, {"op": "advance", "seconds": 1}, token]
    )
    assert results[0] == results[2] == {"token": MARK}
    # 60 s left: the cache is stale; the store still holds the same token, which the rule refuses.
    assert results[4]["error"] == "TokenExpiredError"
    assert calls == 2


def test_concurrent_callers_share_one_read_and_invalidate_forces_one(
    sm: Any, secret_name: str, node_consumer: NodeConsumer
) -> None:
    put(sm, secret_name, 3599)
    token = {"op": "token", "secret": secret_name}
    results, calls = node_consumer.probe(
        [
            {"op": "parallel", "secret": secret_name, "n": 16},
            token,
            {"op": "invalidate", "secret": secret_name},
            token,
            token,
        ]
    )
    assert results[0] == {"tokens": [MARK]}
    assert results[1] == results[3] == results[4] == {"token": MARK}
    assert calls == 2, "16 concurrent calls made one read; invalidate() made exactly one more"


def test_reads_awscurrent_not_a_staged_version(
    sm: Any, secret_name: str, node_consumer: NodeConsumer
) -> None:
    put(sm, secret_name, 3599, token="tok-current")
    staged = token_doc("tok-staged", NOW + timedelta(seconds=3599))
    sm.put_secret_value(
        SecretId=secret_name, SecretString=json.dumps(staged), VersionStages=["SYNCJOB_PENDING"]
    )
    results, _ = node_consumer.probe([{"op": "token", "secret": secret_name}])
    assert results == [{"token": "tok-current"}]


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ({"token_type": "bearer", "expires_at": "2026-11-29T13:00:00Z"}, "'access_token' is missing"),
        (
            {"access_token": f"{MARK} x", "token_type": "bearer", "expires_at": "2026-11-29T13:00:00Z"},
            "cannot carry safely",
        ),
        (
            {"access_token": f"{MARK}\nX: y", "token_type": "bearer", "expires_at": "2026-11-29T13:00:00Z"},
            "cannot carry safely",
        ),
        (
            {"access_token": f"{MARK}\u00e9", "token_type": "bearer", "expires_at": "2026-11-29T13:00:00Z"},
            "cannot carry safely",
        ),
        ({"access_token": MARK, "token_type": "mac", "expires_at": "2026-11-29T13:00:00Z"}, "not 'bearer'"),
        ({"access_token": MARK, "token_type": "Bearer", "expires_at": "2026-11-29T13:00:00"}, "RFC 3339"),
        ({"access_token": MARK, "token_type": "bearer"}, "'expires_at' is missing"),
    ],
)
def test_refuses_what_the_python_reader_refuses(
    sm: Any, secret_name: str, node_consumer: NodeConsumer, doc: object, problem: str
) -> None:
    sm.create_secret(Name=secret_name, SecretString=doc if isinstance(doc, str) else json.dumps(doc))
    results, _ = node_consumer.probe([{"op": "token", "secret": secret_name}])
    assert results[0]["error"] == "TokenUnavailableError"
    assert problem in results[0]["message"] and MARK not in results[0]["message"]


def test_serves_a_salesforce_shaped_token_as_the_python_reader_does(
    sm: Any, secret_name: str, node_consumer: NodeConsumer
) -> None:
    # Salesforce's client-credentials tokens contain "!": visible ASCII, safe in a header.
    token = "00D5g000004LEAK!AQ0AQ" + MARK
    put(sm, secret_name, 3600, token=token, now=datetime.now(UTC))
    results, _ = node_consumer.probe([{"op": "token", "secret": secret_name}])
    assert results == [{"token": token}]


def test_missing_secret_and_the_cli_exit_codes(
    sm: Any, secret_name: str, node_consumer: NodeConsumer
) -> None:
    missing = node_consumer.run("token.mjs", secret_name)
    assert missing.returncode == 1 and missing.stdout == ""
    assert "was not found" in missing.stderr and "TokenUnavailableError" in missing.stderr
    put(sm, secret_name, 30, now=datetime.now(UTC))
    expired = node_consumer.run("token.mjs", secret_name)
    assert expired.returncode == 1 and expired.stdout == ""
    assert "TokenExpiredError" in expired.stderr and MARK not in expired.stderr
    usage = node_consumer.run("token.mjs")
    assert usage.returncode == 2
