"""A test harness over the real parts: moto's server, a local token endpoint, the real CLI.

Every client secret made here carries SECRETMARK and every token the endpoint issues carries
LEAKMARK; every output the harness sees is checked for both."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from click.testing import CliRunner

from standins import aws
from standins.moto_server import MotoServer
from standins.token_server import TokenServer
from sync_job.cli import main

MARKERS = ("LEAKMARK", "SECRETMARK")
ROOT = Path(__file__).resolve().parents[1]


def assert_no_leak(*texts: str | None) -> None:
    for text in texts:
        for marker in MARKERS:
            assert marker not in (text or ""), f"{marker} leaked into output:\n{text}"


def assert_not_in(texts: tuple[str, ...], *tokens: str) -> None:
    """No ``token`` (a JWT: an assertion, a web-identity token), nor its payload or signature
    segment alone, in any of ``texts``."""
    for token in tokens:
        for part in (token, *token.split(".")[1:]):
            for text in texts:
                assert part not in text


def secret_forms(client_id: str, secret: str) -> set[str]:
    """Every encoding in which the job sends (or a server might echo) a client secret: plain,
    form-encoded, JSON-escaped, whitespace-collapsed, and base64 of ``id:secret`` (raw and
    form-encoded, standard and URL-safe alphabet, with and without padding and ``Basic ``)."""
    once = json.dumps(secret)[1:-1]
    forms = {secret, quote_plus(secret), quote(secret, safe=""), once, json.dumps(once)[1:-1]}
    forms.add(" ".join(secret.split()))
    for raw in (f"{client_id}:{secret}", f"{quote_plus(client_id)}:{quote_plus(secret)}"):
        for encoded in (base64.b64encode(raw.encode()), base64.urlsafe_b64encode(raw.encode())):
            text = encoded.decode()
            forms |= {text, text.rstrip("="), "Basic " + text}
    return {f for f in forms if len(f) >= 6}


def assert_no_secret_forms(forms: set[str], *texts: str | None) -> None:
    for text in texts:
        for form in forms:
            assert form not in (text or ""), f"a form of a client secret leaked into output:\n{text}"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("sync-job: error:")]

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr.splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. endpoint_params
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render_toml(envs: dict[str, dict[str, Any]], defaults: dict[str, Any] | None = None) -> str:
    lines = []
    if defaults:
        lines.append("[defaults]")
        lines += [f"{k} = {toml_value(v)}" for k, v in defaults.items()]
    for name, table in envs.items():
        lines.append(f"\n[environments.{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Harness:
    moto: MotoServer
    tokens: TokenServer
    tmp: Path
    envs: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sm = aws.client("secretsmanager", self.moto.endpoint)
        self.run_id = uuid.uuid4().hex[:8]
        # Fast retries in tests; the real defaults are covered by unit tests.
        self.defaults.setdefault("backoff_initial_seconds", 0.05)
        self.defaults.setdefault("backoff_max_seconds", 0.2)
        self.defaults.setdefault("timeout_seconds", 2)

    def client_id(self, name: str) -> str:
        return f"{name}-{self.run_id}"

    def add_env(
        self,
        name: str,
        *,
        scopes: list[str] | None = None,
        allowed: list[str] | None = None,
        auth_method: str = "client_secret_post",
        secret: str | None = None,
        create_token_secret: bool = True,
        server: TokenServer | None = None,
        public_key_pem: str | None = None,
        credentials: dict[str, str] | None = None,
        **tunables: Any,
    ) -> dict[str, Any]:
        """Register a client at the token server, create its credentials secret (and, unless told
        not to, its empty token secret) in moto, and add ``[environments.NAME]`` to the config.

        ``private_key_jwt`` clients register ``public_key_pem`` and need ``credentials`` (the
        credentials secret's document); the others get a fresh client secret carrying SECRETMARK
        (or ``secret``). ``tunables`` are further config keys. Returns the environment's table,
        which a test may still change before the config is written."""
        server = server or self.tokens
        scopes = ["funding:read_profile", "transfer:read_transfer"] if scopes is None else scopes
        client_id = self.client_id(name)
        allowed_scopes = allowed if allowed is not None else scopes
        if auth_method == "private_key_jwt":
            server.add_client(
                client_id, scopes=allowed_scopes, auth_method=auth_method, public_key_pem=public_key_pem
            )
        else:
            client_secret = secret or f"SECRETMARK-{uuid.uuid4().hex}:%+/=&"
            self.secrets[name] = client_secret
            server.add_client(client_id, client_secret, scopes=allowed_scopes, auth_method=auth_method)
            credentials = credentials or {"client_id": client_id, "client_secret": client_secret}
        creds_name = f"{self.run_id}/{name}/client-credentials"
        token_name = f"{self.run_id}/{name}/access-token"
        self.sm.create_secret(Name=creds_name, SecretString=json.dumps(credentials))
        if create_token_secret:
            self.sm.create_secret(Name=token_name)
        table = {
            "token_url": server.url,
            "scopes": scopes,
            "credentials_secret": creds_name,
            "token_secret": token_name,
            "auth_method": auth_method,
            **tunables,
        }
        self.envs[name] = table
        return table

    def add_assertion_client(self, name: str, seen: list[str] | None = None, **client: Any) -> None:
        """Register ``name``'s private_key_jwt client at the token endpoint (``client``: a public
        key or a federated trust); ``seen`` collects each assertion the endpoint accepts."""
        from standins.token_server import ClientRequest, Refusal

        def keep(req: ClientRequest) -> Refusal | None:
            if seen is not None:
                seen.append(req.form["client_assertion"][0])
            return None

        self.tokens.add_client(
            self.client_id(name),
            scopes=["funding:read_profile"],
            auth_method="private_key_jwt",
            require=keep,
            **client,
        )

    def add_jwt_env(
        self,
        name: str,
        kind: str = "rsa",
        *,
        stored_key: str | None = None,
        key_id: str | None = None,
        **table: Any,
    ) -> str:
        """A ``private_key_jwt`` environment with a fresh key (``rsa`` or ``ec``) whose public
        half the token endpoint knows; returns the private PEM (``stored_key`` replaces it in
        the credentials secret)."""
        from standins.keys import keypair

        private, public = keypair(kind)
        doc = {
            "client_id": self.client_id(name),
            "private_key": stored_key if stored_key is not None else private,
        }
        if key_id:
            doc["key_id"] = key_id
        self.add_env(
            name,
            scopes=["funding:read_profile"],
            auth_method="private_key_jwt",
            public_key_pem=public,
            credentials=doc,
            **table,
        )
        return private

    def config_path(self) -> Path:
        path = self.tmp / "sync-job.toml"
        path.write_text(render_toml(self.envs, self.defaults))
        return path

    def cli(self, *args: str, level: str = "DEBUG") -> Result:
        """Run the real click command in-process, at DEBUG by default, and check for leaks."""
        runner = CliRunner()
        result = runner.invoke(
            main,
            ["--config", str(self.config_path()), "--log-level", level, *args],
            catch_exceptions=False,
        )
        out = Result(result.exit_code, result.stdout, result.stderr)
        if not (args and args[0] == "token"):
            assert_no_leak(out.stdout, out.stderr)
        else:
            assert_no_leak(out.stderr)
        self.assert_no_secret(out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        return out

    def start_process(self, *args: str) -> subprocess.Popen[str]:
        """``python -m sync_job --config <this config> ARGS`` started in the background, its
        stdout and stderr piped as text (for signals, kills and overlapping runs)."""
        return subprocess.Popen(
            [sys.executable, "-m", "sync_job", "--config", str(self.config_path()), *args],
            env=self.subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def assert_no_secret(self, *texts: str | None) -> None:
        """No form of any client secret of this harness in ``texts`` (see secret_forms)."""
        for name, secret in self.secrets.items():
            assert_no_secret_forms(secret_forms(self.client_id(name), secret), *texts)

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(AWS_ENDPOINT_URL=self.moto.endpoint, PYTHONPATH=str(ROOT))
        return env

    def cli_process(self, *args: str, level: str = "DEBUG", timeout: float = 60) -> Result:
        """Run `python -m sync_job` as a separate process (the installed console script path)."""
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "sync_job",
                "--config",
                str(self.config_path()),
                "--log-level",
                level,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.subprocess_env(),
            check=False,
        )
        out = Result(proc.returncode, proc.stdout, proc.stderr)
        assert_no_leak(out.stderr, out.stdout if not (args and args[0] == "token") else "")
        self.assert_no_secret(out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        return out

    def token_secret(self, name: str) -> str:
        return str(self.envs[name]["token_secret"])

    def stored(self, name: str) -> dict[str, Any] | None:
        try:
            answer = self.sm.get_secret_value(SecretId=self.token_secret(name), VersionStage="AWSCURRENT")
        except self.sm.exceptions.ResourceNotFoundException:
            return None
        return json.loads(answer["SecretString"])  # type: ignore[no-any-return]

    def put_due(self, name: str = "sandbox", remaining: int = 120) -> dict[str, Any]:
        """Store a good hour-long token with ``remaining`` seconds left (inside the default
        900 s margin), so a run must refresh it; returns the stored document."""
        from standins.fakes import valid_doc

        doc = valid_doc(name, remaining=remaining, token=f"tok-LEAKMARK-good-{name}")
        self.put_stored(name, doc)
        return doc

    def put_stored(self, name: str, doc: dict[str, Any] | str) -> None:
        text = doc if isinstance(doc, str) else json.dumps(doc)
        self.sm.put_secret_value(SecretId=self.token_secret(name), SecretString=text)

    def versions(self, name: str) -> int:
        answer = self.sm.list_secret_version_ids(SecretId=self.token_secret(name), IncludeDeprecated=True)
        return len(answer["Versions"])

    def token_requests(self, name: str) -> int:
        return self.tokens.count(self.client_id(name))
