"""panva's oidc-provider (npm; standins/oidc_peer/, pinned by its package-lock.json) as a
second, independent OAuth 2.0 server on 127.0.0.1: client credentials, RFC 7009 revocation and
RFC 7662 introspection. `npm ci` runs once per lock file into build/oidc-peer-<hash>/ (a file
lock keeps two pytest workers from racing); callers skip, with the reason, where node or npm is
missing (.ci/run installs Debian's nodejs and npm)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parent / "oidc_peer"
START_TIMEOUT_S = 30.0


class PeerUnavailable(Exception):
    """node or npm is missing, or too old: the caller skips with this reason."""


@dataclass(frozen=True)
class PeerClient:
    client_id: str
    client_secret: str
    token_endpoint_auth_method: str
    scope: str


@dataclass(frozen=True)
class OidcPeer:
    issuer: str

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    @property
    def revocation_url(self) -> str:
        return f"{self.issuer}/token/revocation"

    def is_active(self, client: PeerClient, token: str) -> bool:
        """RFC 7662 introspection of ``token``, authenticated as ``client``."""
        session = requests.Session()
        session.trust_env = False  # nothing between us and 127.0.0.1
        answer = session.post(
            f"{self.issuer}/token/introspection",
            data={"token": token, "client_id": client.client_id, "client_secret": client.client_secret},
            timeout=10,
        )
        answer.raise_for_status()
        return bool(answer.json()["active"])


def _install(directory: Path, npm: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f"{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (directory / "node_modules" / ".package-lock.json").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copy2(SOURCE / name, directory / name)
            proc = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(
                    f"npm ci in {directory} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
                )
    shutil.copy2(SOURCE / "server.mjs", directory / "server.mjs")


@contextlib.contextmanager
def oidc_peer(clients: list[PeerClient]) -> Iterator[OidcPeer]:
    """The peer with ``clients`` registered, until the block ends (then killed). Raises
    ``PeerUnavailable`` without node 20+ and npm."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailable("node and npm are not installed (.ci/run installs Debian's nodejs and npm)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 20:
        raise PeerUnavailable(f"oidc-provider 9 needs node 20 or later, found {version}")
    lock = hashlib.sha256((SOURCE / "package-lock.json").read_bytes()).hexdigest()[:12]
    directory = ROOT / "build" / f"oidc-peer-{lock}"
    _install(directory, npm)
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["OIDC_PEER_CLIENTS"] = json.dumps([c.__dict__ for c in clients])
    proc = subprocess.Popen(
        [node, "server.mjs"],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + START_TIMEOUT_S
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise RuntimeError(f"oidc-provider did not start within {START_TIMEOUT_S:g} s")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"oidc-provider exited ({proc.wait(timeout=5)}) before listening")
        yield OidcPeer(issuer=json.loads(line)["issuer"])
    finally:
        proc.kill()
        proc.wait(timeout=10)
