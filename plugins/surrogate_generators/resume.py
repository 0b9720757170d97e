"""Where a torch family's training starts: fresh, or from the newest checkpoint in the
working directory.

The loop (:mod:`surrogate.training.loop`) restores its own state and refuses other
hyper-parameters or trajectory options; what is decided here comes before any network
exists: whether there is a run to resume, which seed it used, and whether the data are of
the spec it was trained on (a checkpoint's condition encoding fits no other spec, so the
difference is named here rather than surfacing as a shape mismatch while restoring).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.errors import SpecError, TrainingError
from surrogate.spec import EventSpec
from surrogate.training.loop import CHECKPOINT_DIR, checkpoint_paths, latest_checkpoint


def resume_point(
    resume: bool, workdir: Path | None, seed: Any
) -> tuple[dict[str, Any] | None, int]:
    """The checkpoint to resume from (or ``None``) and the run's integer seed (the
    checkpoint's when none is given); refuses a fresh run into a directory holding another
    run's checkpoints, which a resume would otherwise mix with its own."""
    ckpt = None
    if resume:
        if workdir is None:
            raise TrainingError("resume needs the working directory of the run (workdir)")
        ckpt = latest_checkpoint(workdir)
        if ckpt is None:
            raise TrainingError(
                f"nothing to resume: no checkpoint in {Path(workdir) / CHECKPOINT_DIR}"
            )
        if seed is None:
            seed = json.loads(ckpt["fingerprint"]).get("seed")
    elif checkpoint_paths(workdir):
        raise TrainingError(
            f"{workdir} holds checkpoints of an earlier run: resume it (resume=True, "
            "--resume) or train into another directory"
        )
    return ckpt, run_seed(seed)


def run_seed(seed: Any) -> int:
    """An integer seed for the run (a fresh random one for ``None``): checkpoints record
    it, so a resumed run draws the same batches as the uninterrupted one."""
    if isinstance(seed, np.random.SeedSequence):
        seed = int(seed.generate_state(1, np.uint64)[0] >> 1)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    return int(seed)


def check_resume_spec(ckpt: Mapping[str, Any], spec: EventSpec) -> None:
    """Refuse to resume on events of another spec, listing what differs."""
    saved = EventSpec.from_dict(json.loads(ckpt["fingerprint"])["spec"])
    diff = saved.difference(spec)
    if diff:
        raise SpecError(
            f"cannot resume from {ckpt.get('path', 'the checkpoint')}: it was trained on "
            "events of another spec (checkpoint vs data: " + "; ".join(diff) + ")"
        )


def clear_checkpoints(workdir: Path) -> None:
    """Delete the resume checkpoints of a previous run in ``workdir``."""
    shutil.rmtree(Path(workdir) / CHECKPOINT_DIR, ignore_errors=True)
