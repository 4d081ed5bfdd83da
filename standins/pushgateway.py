"""A real Prometheus Pushgateway (Debian's `prometheus-pushgateway` binary) on 127.0.0.1, in memory
(no persistence file), started and stopped by the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from prometheus_client.parser import text_string_to_metric_families

BINARY = "prometheus-pushgateway"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
# Sample name -> sorted label pairs -> value.
Scraped = dict[str, dict[tuple[tuple[str, str], ...], float]]


def binary() -> str | None:
    return shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if Path(f"/usr/bin/{BINARY}").exists() else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Pushgateway:
    def __init__(self, path: str, log: Path) -> None:
        self.path = path
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        # A free port can be taken between probing and binding (xdist workers): try a few.
        for _ in range(3):
            port = _free_port()
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [self.path, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.url = f"http://127.0.0.1:{port}"
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError(f"pushgateway did not start; log: {self.log_path.read_text()[-2000:]}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # exited: port taken, bad flag
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None

    def __enter__(self) -> Pushgateway:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def scrape(self, **match: str) -> Scraped:
        """The Pushgateway's /metrics, parsed with prometheus_client's parser: samples whose
        labels include ``match``, with those labels removed."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        out: Scraped = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if all(sample.labels.get(k) == v for k, v in match.items()):
                    labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in match))
                    out.setdefault(sample.name, {})[labels] = sample.value
        return out
