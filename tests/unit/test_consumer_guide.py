"""docs/consumers.md's staleness arithmetic, recomputed: a copy of the token refreshed every
hour (the caching libraries' and External Secrets Operator's default) while the job replaces
Paxos's 3599 s tokens 900 s before they expire; and the guide is linked where consumers look."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync_job import bearer

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "consumers.md").read_text()
LIFETIME, MARGIN, COPY_INTERVAL, SCHEDULE = 3599, 900, 3600, 300


def unusable_share(left_at_read: float, threshold: float) -> float:
    """Share of the copy's interval during which a token read with ``left_at_read`` seconds
    left has ``threshold`` seconds or fewer left."""
    usable_for = max(0.0, min(COPY_INTERVAL, left_at_read - threshold))
    return (COPY_INTERVAL - usable_for) / COPY_INTERVAL


def average(threshold: float, steps: int = 100_000) -> float:
    # The copy is taken at a moment uniform over the 2699 s a token is the current one.
    low, high = MARGIN, LIFETIME
    total = 0.0
    for i in range(steps):
        left = low + (high - low) * (i + 0.5) / steps
        total += unusable_share(left, threshold)
    return total / steps


@pytest.mark.parametrize(("threshold", "shown"), [(0, "37.5 %"), (bearer.EXPIRY_SKEW_SECONDS, "39.2 %")])
def test_an_hourly_copy_is_expired_about_a_third_of_the_time(threshold: float, shown: str) -> None:
    share = average(threshold)
    assert f"{share * 100:.1f} %" == shown
    assert shown in GUIDE


def test_worst_and_best_cases_and_the_interval_bounds() -> None:
    assert f"{unusable_share(MARGIN, 0) * 100:.0f} %" == "75 %"
    assert f"{unusable_share(MARGIN, 60) * 100:.1f} %" == "76.7 %"
    assert f"{unusable_share(LIFETIME, 60) * 100:.1f} %" == "1.7 %"
    for text in ("75 %", "76.7 %", "1.7 %", "I < 540 s", "I < 240 s"):
        assert text in GUIDE, text
    least_left = MARGIN - SCHEDULE  # what the store always holds with a healthy job
    assert least_left - 540 == bearer.EXPIRY_SKEW_SECONDS
    assert least_left - SCHEDULE - 240 == bearer.EXPIRY_SKEW_SECONDS


@pytest.mark.parametrize("path", ["README.md", "docs/reader.md"])
def test_the_guide_is_linked(path: str) -> None:
    assert "consumers.md" in (ROOT / path).read_text()
