"""`make demo` (= `python -m scripts.demo` from the repository root): the whole job end to end on
local stand-ins, then everything stopped.

Starts moto's Secrets Manager server and a Paxos-like OAuth2 token endpoint on 127.0.0.1, seeds
two environments (sandbox and production, as examples/paxos.toml has them), and runs the real
`sync-job` command: `run` (refreshes both), `run` again (both fresh, no token request),
`status`, and `run --json`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from standins import aws
from standins.harness import render_toml
from standins.moto_server import MotoServer
from standins.token_server import TokenServer

ROOT = Path(__file__).resolve().parents[1]

SCOPES = ["funding:read_profile", "transfer:read_transfer", "transfer:write_internal_transfer"]


def step(title: str, *args: str, env: dict[str, str]) -> int:
    print(f"\n$ sync-job {' '.join(args)}    # {title}", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "sync_job", *args],
        env=env,
        timeout=120,
        check=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    print(proc.stdout.rstrip())
    print(f"(exit {proc.returncode})")
    return proc.returncode


def main() -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log is noise here

    moto = MotoServer().start()
    server = TokenServer(lifetime=3599, latency=0.05).start()
    try:
        sm = aws.client("secretsmanager", moto.endpoint)
        envs = {}
        for name in ("sandbox", "production"):
            client_id = f"demo-{name}-client"
            client_secret = secrets.token_urlsafe(24)  # never printed
            server.add_client(client_id, client_secret, scopes=SCOPES)
            sm.create_secret(
                Name=f"paxos/{name}/client-credentials",
                SecretString=json.dumps({"client_id": client_id, "client_secret": client_secret}),
            )
            sm.create_secret(Name=f"paxos/{name}/access-token")  # as infra/ creates it: no value
            envs[name] = {
                "token_url": server.url,
                "scopes": SCOPES,
                "credentials_secret": f"paxos/{name}/client-credentials",
                "token_secret": f"paxos/{name}/access-token",
            }
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "demo.toml"
            config.write_text(render_toml(envs, {"refresh_margin_seconds": 900}))
            print(f"moto Secrets Manager: {moto.endpoint}   token endpoint: {server.url}")
            print(f"config ({config.name}):\n{config.read_text()}")
            env = dict(os.environ, **aws.DUMMY_AWS, AWS_ENDPOINT_URL=moto.endpoint, PYTHONPATH=str(ROOT))
            base = ["--config", str(config), "--log-level", "WARNING"]
            codes = [step("first run: both tokens missing, so both are refreshed", *base, "run", env=env)]
            after_first = server.count()
            codes.append(step("second run: both fresh, no token request, no write", *base, "run", env=env))
            codes.append(step("what consumers would read", *base, "status", env=env))
            codes.append(step("machine-readable, for CI", *base, "run", "--json", env=env))
            print(
                f"\ntoken requests: {after_first} in the first run, "
                f"{server.count() - after_first} in the two runs after it"
            )
            versions = [
                len(sm.list_secret_version_ids(SecretId=f"paxos/{n}/access-token")["Versions"]) for n in envs
            ]
            print(f"token secret versions: {dict(zip(envs, versions, strict=True))}")
        ok = codes == [0, 0, 0, 0] and after_first == 2 and server.count() == 2
        print("\ndemo " + ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        server.stop()
        moto.stop()


if __name__ == "__main__":
    sys.exit(main())
