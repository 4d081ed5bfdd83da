"""Config validation: every bad input is one ConfigError line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_job.config import load_config, load_config_text, parse_config
from sync_job.errors import ConfigError, UsageError

GOOD = {
    "token_url": "https://oauth.sandbox.paxos.com/oauth2/token",
    "credentials_secret": "paxos/sandbox/client-credentials",
    "token_secret": "paxos/sandbox/access-token",
}


def config_with(env: dict[str, object], defaults: dict[str, object] | None = None) -> dict[str, object]:
    doc: dict[str, object] = {"environments": {"sandbox": env}}
    if defaults is not None:
        doc["defaults"] = defaults
    return doc


def test_minimal_environment_gets_defaults() -> None:
    cfg = parse_config(config_with(dict(GOOD)))
    env = cfg.get("sandbox")
    assert env.auth_method == "client_secret_post"
    assert env.refresh_margin_seconds == 900
    assert env.max_attempts == 5
    assert env.timeout_seconds == 10
    assert env.scopes == ()
    assert env.origin == "https://oauth.sandbox.paxos.com:443"


def test_environment_overrides_defaults() -> None:
    cfg = parse_config(
        config_with({**GOOD, "max_attempts": 2}, {"max_attempts": 7, "refresh_margin_seconds": 60})
    )
    env = cfg.get("sandbox")
    assert env.max_attempts == 2
    assert env.refresh_margin_seconds == 60


def test_run_wide_settings_live_in_defaults() -> None:
    cfg = parse_config(config_with(dict(GOOD), {"run_timeout_seconds": 30, "max_workers": 4}))
    assert cfg.run_timeout_seconds == 30
    assert cfg.max_workers == 4
    with pytest.raises(ConfigError, match=r"environments.sandbox.max_workers: is run-wide"):
        parse_config(config_with({**GOOD, "max_workers": 4}))


def test_example_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "examples" / "paxos.toml")
    assert cfg.names() == ("sandbox", "production")
    assert cfg.get("production").token_url == "https://oauth.paxos.com/oauth2/token"
    assert "transfer:write_fiat_withdrawal" in cfg.get("sandbox").scopes


@pytest.mark.parametrize(
    ("env", "defaults", "message"),
    [
        ({**GOOD, "colour": "blue"}, None, r"environments.sandbox.colour: unknown key"),
        ({**GOOD, "max_attemps": 3}, None, r"did you mean 'max_attempts'"),
        (
            {k: v for k, v in GOOD.items() if k != "token_secret"},
            None,
            r"missing required key 'token_secret'",
        ),
        ({**GOOD, "max_attempts": "5"}, None, r"max_attempts: must be an integer, got str"),
        ({**GOOD, "max_attempts": True}, None, r"max_attempts: must be an integer, got bool"),
        ({**GOOD, "max_attempts": 0}, None, r"max_attempts: must be a positive integer"),
        ({**GOOD, "timeout_seconds": -1}, None, r"timeout_seconds: must be a positive number"),
        ({**GOOD, "scopes": "a b"}, None, r"scopes: must be a list of strings"),
        ({**GOOD, "scopes": ["a b"]}, None, r"scopes\[0\]: each scope must be a non-empty string"),
        ({**GOOD, "auth_method": "client_secret_jwt"}, None, r"auth_method: must be one of"),
        ({**GOOD, "token_url": "http://oauth.paxos.com/oauth2/token"}, None, r"must be an https:// URL"),
        ({**GOOD, "token_url": "ftp://127.0.0.1/token"}, None, r"must be an https:// URL"),
        ({**GOOD, "token_url": "oauth.paxos.com/token"}, None, r"must be an absolute https:// URL"),
        ({**GOOD, "token_url": "https://u:p@oauth.paxos.com/t"}, None, r"must not contain user:password@"),
        (dict(GOOD), {"token_url": "https://x/token"}, r"defaults.token_url: must be set per environment"),
        (dict(GOOD), {"bogus": 1}, r"defaults.bogus: unknown key"),
        ({**GOOD, "signing_alg": "RS256"}, None, r'applies only to auth_method = "private_key_jwt"'),
    ],
)
def test_bad_config_names_the_key(
    env: dict[str, object], defaults: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(config_with(env, defaults))
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_http_is_allowed_for_loopback_only() -> None:
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]:9/t"):
        assert parse_config(config_with({**GOOD, "token_url": url})).get("sandbox").token_url == url
    with pytest.raises(ConfigError, match="must be an https:// URL"):
        parse_config(config_with({**GOOD, "token_url": "http://127.0.0.1.example.com/token"}))


def test_secret_in_config_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(config_with({**GOOD, "client_secret": "hunter2-very-secret"}))
    assert "secrets do not belong in the config file" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_no_environments() -> None:
    with pytest.raises(ConfigError, match="no \\[environments.NAME\\] table"):
        parse_config({})
    with pytest.raises(ConfigError, match="environments: is empty"):
        parse_config({"environments": {}})


def test_invalid_toml_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"config x.toml is not valid TOML"):
        load_config_text("[environments\n", "x.toml")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_config_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNC_JOB_CONFIG", raising=False)
    monkeypatch.delenv("SYNC_JOB_CONFIG_TOML", raising=False)
    with pytest.raises(ConfigError, match="no configuration"):
        load_config()
    inline = (
        '[environments.a]\ntoken_url = "https://x.example/t"\ncredentials_secret = "c"\ntoken_secret = "t"\n'
    )
    monkeypatch.setenv("SYNC_JOB_CONFIG_TOML", inline)
    assert load_config().names() == ("a",)
    path = tmp_path / "c.toml"
    path.write_text(inline.replace("environments.a", "environments.b"))
    monkeypatch.setenv("SYNC_JOB_CONFIG", str(path))
    assert load_config().names() == ("b",)


def test_select_unknown_environment_is_usage_error() -> None:
    cfg = parse_config(config_with(dict(GOOD)))
    with pytest.raises(UsageError, match="unknown environment 'prod'; configured: sandbox"):
        cfg.select(["prod"])
    assert cfg.select(["sandbox", "sandbox"]) == cfg.environments


# --- each key declared once (issue 17 §2) ------------------------------------------------------


def test_the_reference_table_in_the_docs_is_the_declarations() -> None:
    """docs/configuration.md's table is rendered from the keys' declarations (name, default,
    bound, docs line); after changing a key, paste ``config.reference_table()`` over it."""
    from sync_job.config import reference_table

    docs = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert reference_table() in docs, reference_table()


@pytest.mark.parametrize("key", ["max_workers", "timeout_seconds", "run_timeout_seconds", "max_attempts"])
def test_a_declared_bound_is_enforced_and_the_value_at_it_accepted(key: str) -> None:
    from sync_job.config import LIMITS

    limit = LIMITS[key]
    at = int(limit) if float(limit).is_integer() else limit
    parse_config(config_with(dict(GOOD), {key: at}))
    with pytest.raises(ConfigError, match=f"defaults.{key}: must be at most {limit:g}, got"):
        parse_config(config_with(dict(GOOD), {key: at + 1}))


def test_every_declared_default_passes_its_own_check() -> None:
    from dataclasses import MISSING, fields

    from sync_job.config import Config, EnvironmentConfig

    for cls in (EnvironmentConfig, Config):
        for item in fields(cls):
            if "check" not in item.metadata or item.default in (MISSING, None):
                continue
            value = list(item.default) if isinstance(item.default, tuple) else item.default
            if item.name == "endpoint_params":
                value = {}
            checked = item.metadata["check"](item.name, value)
            assert checked == item.default or (checked == () and item.default == ()), item.name
