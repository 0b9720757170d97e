"""The default torch thread count: the cores nobody else uses, unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from surrogate.threads import default_threads


@pytest.mark.parametrize(
    "cores, load, expected", [(2, 0.0, 2), (2, 1.2, 1), (2, 3.5, 1), (16, 4.0, 12)]
)
def test_default_threads_leave_busy_cores_alone(cores, load, expected):
    assert default_threads(cores, load) == expected


def _threads_after_resolving(env: dict[str, str], code: str = "") -> int:
    script = (
        "import torch\n" + code + "from surrogate.devices import resolve_device\n"
        "resolve_device('cpu'); print(torch.get_num_threads())"
    )
    base = {
        k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SURROGATE_THREADS")
    }
    out = subprocess.run(
        [sys.executable, "-c", script], env=base | env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def test_a_users_choice_wins():
    assert _threads_after_resolving({"SURROGATE_THREADS": "1"}) == 1
    assert _threads_after_resolving({"OMP_NUM_THREADS": "1"}) == 1
    # torch.set_num_threads before the toolkit's first device: left as the user set it
    cores = len(os.sched_getaffinity(0))
    chosen = 1 if cores > 1 else 2
    set_first = f"torch.set_num_threads({chosen})\n"
    assert _threads_after_resolving({}, set_first) == chosen


def test_without_a_choice_the_default_applies():
    load = os.getloadavg()[0]
    assert _threads_after_resolving({}) <= max(1, len(os.sched_getaffinity(0)) - round(load) + 1)
