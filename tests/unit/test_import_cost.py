"""Start-up import cost of `sync-job` (issue 17 §3): heavy optional libraries stay out of `import sync_job.cli`."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each is imported lazily by the one command that needs it; importing it at CLI start-up would
# put its cost on every `sync-job run` before the first AWS request.
_DEFERRED = ("requests", "tenacity", "jwt", "cryptography", "prometheus_client", "tqdm")


def _modules_after_cli_import() -> set[str]:
    code = "import sys, sync_job.cli; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("package", _DEFERRED)
def test_cli_import_does_not_load(package: str) -> None:
    loaded = _modules_after_cli_import()
    assert not {m for m in loaded if m == package or m.startswith(package + ".")}


def test_oauth_import_compiles_no_regex_until_used() -> None:
    code = (
        "import sync_job.oauth as o; "
        "print(o._scope_token.cache_info().currsize, o._digits.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["0", "0"]
