"""A long run shows its progress on a terminal's stderr, and nowhere else (issue 12 §5)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from standins.harness import Harness, assert_no_leak


def run_with_tty_stderr(harness: Harness, *args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (stdout a pipe); returns code, stdout, tty."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync_job", "--config", str(harness.config_path()), *args],
        env=harness.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=follower,
        stdin=subprocess.DEVNULL,
    )
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen.extend(chunk)
        elif proc.poll() is not None and not select.select([leader], [], [], 0.2)[0]:
            break  # exited, and everything it wrote has been read
    os.close(leader)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


@pytest.fixture
def five_envs(harness: Harness) -> Harness:
    for i in range(5):
        harness.add_env(f"e{i}")
    harness.defaults["run_timeout_seconds"] = 120
    return harness


def test_progress_is_shown_on_a_terminal(five_envs: Harness) -> None:
    code, out, tty = run_with_tty_stderr(five_envs, "--log-level", "ERROR", "run")
    assert code == 0, tty
    assert "0/5" in tty and "refreshed" in tty and "failed 0" in tty and "s left" in tty
    assert "e4" in out  # the table still goes to stdout
    assert_no_leak(out, tty)


def test_no_progress_with_json_or_without_a_terminal(five_envs: Harness) -> None:
    code, out, tty = run_with_tty_stderr(five_envs, "--log-level", "ERROR", "run", "--json")
    assert len(out.splitlines()) == 1  # one JSON document
    assert code == 0
    assert "refreshed 5" not in tty and "5/5" not in tty
    piped = five_envs.cli_process("run", "--force", level="ERROR")
    assert piped.exit_code == 0
    assert "s left" not in piped.stderr and "5/5" not in piped.stderr
