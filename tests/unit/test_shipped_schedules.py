"""Every schedule this repository ships, run through the freshness simulation against the
refresh margin it ships with (issue 21 §2): infra/'s default, the Terraform example's, the
Kubernetes CronJob's, the cron line of the runbook; and the CI example has none (a CI schedule is
no refresher: examples/ci/github-actions.yml says why).

The simulation (standins/simulation.py) runs the real Job on a manual clock for simulated
days with random outages; a schedule passes when no lapse is left unexplained by an outage
longer than the margin minus the interval. The old CI schedule `7,37 * * * *` shows the test
fails a schedule that lapses."""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from standins.simulation import simulate

ROOT = Path(__file__).resolve().parents[2]
DAYS = 3
JOB_DEFAULT_MARGIN = 900


def interval_seconds(expression: str) -> int:
    """The longest time between two runs of a schedule: EventBridge ``rate(N unit)`` and
    ``cron(m h dom mon dow year)``, or a five-field crontab / Kubernetes / GitHub schedule, when
    its hours field is ``*`` (minutes ``*``, ``*/N`` or a list). Raises ValueError otherwise: a
    shipped schedule this cannot read must be added here, not skipped."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate:
        return int(rate[1]) * {"minute": 60, "hour": 3600, "day": 86400}[rate[2]]
    fields = (expression[5:-1] if expression.startswith("cron(") else expression).split()
    if len(fields) not in (5, 6) or fields[1] != "*":
        raise ValueError(f"cannot read schedule {expression!r}")
    minutes = fields[0]
    if minutes == "*":
        return 60
    step = re.fullmatch(r"(?:\*|0)/(\d+)", minutes)
    if step:
        return 60 * int(step[1])
    values = sorted(int(m) for m in minutes.split(","))
    gaps = [b - a for a, b in zip(values, [*values[1:], values[0] + 60], strict=True)]
    return 60 * max(gaps)


def _tf_default(path: Path, variable: str) -> str:
    block = re.search(rf'variable "{variable}" \{{(.*?)\n\}}', path.read_text(), re.DOTALL)
    assert block, f"{path}: no variable {variable}"
    default = re.search(r'^\s*default\s*=\s*"([^"]+)"', block[1], re.MULTILINE)
    assert default, f"{path}: variable {variable} has no string default"
    return default[1]


def _margin(config: Path) -> int:
    data = tomllib.loads(config.read_text())
    margins = [data.get("defaults", {}).get("refresh_margin_seconds", JOB_DEFAULT_MARGIN)]
    margins += [
        e["refresh_margin_seconds"] for e in data["environments"].values() if "refresh_margin_seconds" in e
    ]
    return int(min(margins))


def shipped() -> Iterator[tuple[str, str, int]]:
    """(where, schedule, margin) of every schedule in the repository."""
    paxos_margin = _margin(ROOT / "examples" / "paxos.toml")
    yield (
        "infra/variables.tf default",
        _tf_default(ROOT / "infra" / "variables.tf", "schedule_expression"),
        JOB_DEFAULT_MARGIN,
    )
    example = ROOT / "infra" / "examples" / "paxos" / "variables.tf"
    yield "infra/examples/paxos default", _tf_default(example, "schedule_expression"), paxos_margin
    for manifest in sorted((ROOT / "examples").rglob("*.yaml")):
        for found in re.findall(r'^\s*schedule:\s*"([^"]+)"', manifest.read_text(), re.MULTILINE):
            yield str(manifest.relative_to(ROOT)), found, paxos_margin
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for found in re.findall(
            r"^((?:\S+ ){4}\S+) (?:\S+=\S+ )*sync-job run", doc.read_text(), re.MULTILINE
        ):
            yield f"{doc.relative_to(ROOT)} (crontab)", found, JOB_DEFAULT_MARGIN


SHIPPED = list(shipped())


def _lapses_unexplained(margin: int, interval: int) -> int:
    logging.disable(logging.CRITICAL)  # simulated days of retries are many log lines
    try:
        return simulate(margin=margin, interval=interval, days=DAYS, seed=1).expiries_without_long_outage
    finally:
        logging.disable(logging.NOTSET)


def test_the_list_of_shipped_schedules_is_read() -> None:
    where = {w.split(" ")[0] for w, _, _ in SHIPPED}
    assert {"infra/variables.tf", "infra/examples/paxos", "docs/runbook.md"} <= where, SHIPPED
    assert any(w.startswith("examples/kubernetes/") for w in where), SHIPPED


@pytest.mark.parametrize(("where", "schedule", "margin"), SHIPPED, ids=[w for w, _, _ in SHIPPED])
def test_every_shipped_schedule_keeps_tokens_fresh(where: str, schedule: str, margin: int) -> None:
    interval = interval_seconds(schedule)
    # The rule Terraform enforces (infra/variables.tf), with room for one failed run.
    assert margin - interval >= 600, f"{where}: {schedule} leaves {margin - interval} s, want >= 600 s"
    assert _lapses_unexplained(margin, interval) == 0, f"{where}: {schedule} lapses in the simulation"


def test_the_ci_example_has_no_schedule() -> None:
    text = (ROOT / "examples" / "ci" / "github-actions.yml").read_text()
    assert "schedule:" not in text.split("\non:", 1)[1].split("\npermissions:", 1)[0]
    assert "sync-job run --env sandbox" in text and "sync-job token sandbox" in text


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [
        ("7,37 * * * *", 1800),  # the CI example's old schedule
        ("rate(20 minutes)", 1200),
        ("cron(0/30 * * * ? *)", 1800),
    ],
)
def test_a_schedule_that_lapses_fails_the_check(schedule: str, interval: int) -> None:
    assert interval_seconds(schedule) == interval
    assert _lapses_unexplained(JOB_DEFAULT_MARGIN, interval) > 0


@pytest.mark.parametrize(
    ("schedule", "interval"),
    [("*/5 * * * *", 300), ("cron(10,25,40 * * * ? *)", 1800), ("rate(1 hour)", 3600), ("* * * * *", 60)],
)
def test_interval_arithmetic(schedule: str, interval: int) -> None:
    assert interval_seconds(schedule) == interval


def test_an_unreadable_schedule_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="cannot read schedule"):
        interval_seconds("0 8 * * 1-5")
