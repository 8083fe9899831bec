"""Load: 8 ``gradio_client`` calls at once on loopback (30-frame clips, random network at 96 px)."""

from __future__ import annotations

import pytest

from demo.load_test import run_load_test
from demo.models import random_model_loader

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_eight_calls_at_once_finish_or_hear_the_queue_is_full_and_leave_nothing_behind(tmp_path) -> None:
    report = run_load_test(
        model_loader=random_model_loader(),
        clients=8,
        frames=30,
        queue_size=4,  # one running and four waiting: the other three are told the queue is full
        file_age_s=15,  # longer than the last queued call waits, or its upload would be deleted before it runs
        size=96,
        timeout_s=180,
        folder=tmp_path,
    )
    assert len(report.outcomes) == 8, report.summary()
    done, full = report.outcomes.count("done"), report.outcomes.count("queue full")
    assert 4 <= done <= 5 and done + full == 8, report.summary()  # 5 unless all 8 arrive before the first starts
    assert report.wall < 120, report.summary()
    assert report.rss_mb[1] - report.rss_mb[0] < 800, report.summary()
    assert report.leftover_files == [], report.summary()
    assert report.tracebacks == [], report.summary()
    assert report.ok
