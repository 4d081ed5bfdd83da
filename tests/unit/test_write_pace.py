"""pacing.secrets_write_slot: the job's Secrets Manager writes stay under the 50-a-second quota
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html) whatever the
number of workers asking at once."""

from __future__ import annotations

import threading

from sync_job.clock import ManualClock
from sync_job.pacing import SECRETS_WRITE_BURST, SECRETS_WRITE_RATE, HostPacer, secrets_write_slot


def test_writes_leave_at_the_rate_after_the_burst() -> None:
    clock = ManualClock()
    slot = secrets_write_slot(HostPacer(clock))
    start = clock.monotonic()
    times = []
    for _ in range(205):
        slot()
        times.append(clock.monotonic() - start)
    assert times[:SECRETS_WRITE_BURST] == [0.0] * SECRETS_WRITE_BURST
    assert abs(times[-1] - (205 - SECRETS_WRITE_BURST) / SECRETS_WRITE_RATE) < 1e-6
    # No one-second window holds more than the quota of 50 (the burst plus a second's rate).
    most = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert most <= SECRETS_WRITE_BURST + SECRETS_WRITE_RATE < 50


def test_workers_share_one_bucket() -> None:
    clock = ManualClock()
    slot = secrets_write_slot(HostPacer(clock))
    done = []

    def worker() -> None:
        for _ in range(10):
            slot()
            done.append(clock.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert len(done) == 80
    # 80 slots from one bucket: the last cannot start before (80 - burst) / rate.
    assert max(done) - min(done) >= (80 - SECRETS_WRITE_BURST) / SECRETS_WRITE_RATE - 1e-6
