"""A run checkpointed before a training option existed still resumes while the option
keeps its default, and is refused when the resumed run changes it."""

from __future__ import annotations

import json

import pytest

from surrogate.errors import TrainingError
from surrogate.training.loop import check_resume
from surrogate.training.options import TrainOptions, trajectory_options


def checkpoint_without(*keys: str) -> dict:
    options = trajectory_options(TrainOptions())
    for key in keys:
        options.pop(key)
    return {"fingerprint": json.dumps({"family": "flow", "options": options}), "path": "ckpt"}


def test_an_option_the_checkpoint_predates_is_no_difference_at_its_default():
    ckpt = checkpoint_without("objective", "energy_weight", "steps_per_epoch")
    check_resume(ckpt, {"family": "flow", "options": trajectory_options(TrainOptions())})


def test_an_option_the_checkpoint_predates_is_refused_off_its_default():
    ckpt = checkpoint_without("energy_weight")
    now = {"family": "flow", "options": trajectory_options(TrainOptions(energy_weight=0.3))}
    with pytest.raises(TrainingError, match="energy_weight"):
        check_resume(ckpt, now)
