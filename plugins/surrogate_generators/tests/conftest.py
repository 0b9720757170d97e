"""Fixtures shared by the generator families' tests."""

from __future__ import annotations

import pytest


class FakeClock:
    """Stands in for a module's ``time``: the time moves only when an epoch starts (by
    ``per_epoch`` seconds, from a ``step_end`` callback), so budgets are exact."""

    def __init__(self, per_epoch: float) -> None:
        self.now, self.per_epoch = 0.0, per_epoch

    def perf_counter(self) -> float:
        return self.now

    def tick(self, event, info):
        if event == "step_end" and info["step"] == 0:
            self.now += self.per_epoch


@pytest.fixture
def clock(monkeypatch):
    """The training loop's clock, 10 s an epoch (``callbacks=[clock.tick]``)."""
    from surrogate.training import loop

    fake = FakeClock(per_epoch=10.0)
    monkeypatch.setattr(loop, "time", fake)
    return fake
