"""Data-parallel training over several processes (``torchrun``): who this process is, the
process group, and the few collectives the training loop needs.

Why the loop averages gradients itself instead of wrapping the networks in
``torch.nn.parallel.DistributedDataParallel``: DDP hooks the all-reduce into the backward
pass of ``module(...)`` calls, but the families compute their losses through other
methods (``training_loss``, ``log_prob``, samplers), a GAN steps two optimizers over one
graph with ``requires_grad`` toggled between them, and the energy objective draws from
the model inside its loss.  Averaging the gradients between ``backward`` and
``opt.step()`` is the same mathematics for every family, unchanged, with one all-reduce
per optimizer step (one flat buffer, not one call per parameter).

How the data are split, and what it costs: every process iterates the same global batches
(the same seed, the same permutation) and keeps its contiguous slice of each
(:meth:`World.local_batch`), so a run on N processes sees exactly the global batches of a
single-process run with the same ``batch_size`` and reaches the same weights, up to the
rounding of the sums.  Every process therefore reads and prepares every window of an
event file that is streamed (and holds all the prepared events when they fit in memory):
the data pipeline is not divided, only the forward and backward passes are.  That is the
price of a trajectory independent of the number of processes; it is small when the
networks, not the reading, dominate a step.

Gradients are averaged weighted by the rows each process had (:func:`pack_gradients`), so
an uneven last batch (or a slice with no rows at all) gives the exact global mean; a
process with no rows still takes part in every collective, so no process waits forever.

Which process is which comes from torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``), or from a process group the caller initialised; without either, the
world is one process and nothing here does anything.  Torch is imported inside the
functions: :class:`World` is needed by code that must stay light (saving a closed-form
model only on rank 0).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TrainingError

if TYPE_CHECKING:
    import torch

#: Sessions entered and not yet left (:func:`session`), and whether this toolkit created the
#: process group (then it also destroys it when the outermost session ends).
_state = {"depth": 0, "owned": False}


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``world_size`` 1: alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes logs, checkpoints and the model."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> World:
        """The initialised process group's world when there is one, else torchrun's
        environment variables, else a single process."""
        dist = _initialised_group()
        env = os.environ if environ is None else environ
        if dist is not None and environ is None:
            rank = dist.get_rank()
            local = _env_int(env, "LOCAL_RANK", rank)
            return cls(rank, dist.get_world_size(), local)
        size = _env_int(env, "WORLD_SIZE", 1)
        rank = _env_int(env, "RANK", 0)
        if size < 1 or not 0 <= rank < size:
            raise TrainingError(f"RANK={rank} and WORLD_SIZE={size} do not describe a process")
        return cls(rank, size, _env_int(env, "LOCAL_RANK", rank))

    def bounds(self, n: int) -> tuple[int, int]:
        """This process's rows ``[begin, end)`` of ``n``: contiguous, sizes differing by at
        most one, the larger first (as ``np.array_split``), so rank 0 has rows whenever
        there are any."""
        base, extra = divmod(int(n), self.world_size)
        begin = self.rank * base + min(self.rank, extra)
        return begin, begin + base + (self.rank < extra)

    def local_batch(self, arrays: Any) -> Any:
        """This process's slice of a global batch (a tuple of arrays, sliced alike)."""
        if not self.distributed:
            return arrays
        if not isinstance(arrays, (tuple, list)):
            raise TrainingError(
                "training on several processes needs batches that are tuples of arrays, "
                f"to split by rows; got {type(arrays).__name__}"
            )
        begin, end = self.bounds(batch_rows(arrays))
        return tuple(a[begin:end] for a in arrays)

    def describe(self, backend: str, batch_size: int) -> str:
        """One line naming the world, for the log: ``training on 2 processes (gloo), global
        batch 512 = 2 x 256``."""
        size = self.world_size
        share = f"{size} x {batch_size // size}"
        if batch_size % size:
            share = f"{size} x {batch_size // size}-{math.ceil(batch_size / size)}"
        return f"training on {size} processes ({backend}), global batch {batch_size} = {share}"


def batch_rows(arrays: Any) -> int:
    """The rows of a batch: the length of its first array (1 for a batch of another kind)."""
    return len(arrays[0]) if isinstance(arrays, (tuple, list)) and arrays else 1


def rank_seed(seed: int, rank: int, *tags: int) -> int:
    """The torch seed of process ``rank`` (> 0) of a run seeded ``seed``: independent
    streams per process, reproducible from the run's seed (rank 0 keeps the seed itself,
    so a run on one process is the plain run)."""
    state = np.random.SeedSequence(int(seed) % 2**128, spawn_key=(int(rank), *tags))
    return int(state.generate_state(1, np.uint64)[0] >> 1)


def _env_int(env: Mapping[str, str], key: str, default: int) -> int:
    value = env.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise TrainingError(f"environment variable {key}={value!r} is not an integer") from None


def group_initialised() -> bool:
    """Whether a process group is up in this process."""
    return _initialised_group() is not None


def _initialised_group() -> Any:
    """``torch.distributed`` when a process group is initialised in this process, else
    ``None`` (without importing torch when nothing did)."""
    if "torch" not in sys.modules:
        return None
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


# -- the process group ------------------------------------------------------------------------


@contextlib.contextmanager
def session() -> Iterator[World]:
    """The scope of one training run.  A process group the toolkit creates inside
    (:func:`init`) lives until the outermost session ends, so a model that runs several
    loops (the two stages of a two-stage model) trains them all in one group; a group the
    caller initialised is left to the caller."""
    _state["depth"] += 1
    try:
        yield World.from_env()
    finally:
        _state["depth"] -= 1
        if _state["depth"] == 0 and _state["owned"]:
            _state["owned"] = False
            dist = _initialised_group()
            if dist is not None:
                dist.destroy_process_group()


def local_device(world: World, device: torch.device) -> torch.device:
    """The device this process trains on: under several processes each one drives its own
    GPU, ``cuda:LOCAL_RANK`` (made the current device, so ``"cuda"`` means it too)."""
    if not world.distributed or device.type != "cuda":
        return device
    import torch

    if world.local_rank >= torch.cuda.device_count():
        raise TrainingError(
            f"process {world.rank} has LOCAL_RANK={world.local_rank} but torch sees "
            f"{torch.cuda.device_count()} GPUs: start at most one process per GPU"
        )
    local = torch.device("cuda", world.local_rank)
    torch.cuda.set_device(local)
    return local


def init(world: World, device: torch.device) -> str | None:
    """Create the process group unless one exists (nccl for CUDA, gloo for the CPU, from
    torchrun's ``MASTER_ADDR``/``MASTER_PORT``); returns its backend, ``None`` alone."""
    if not world.distributed:
        return None
    import torch.distributed as dist

    if not dist.is_available():
        raise TrainingError("this torch build has no torch.distributed: train on one process")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        try:
            dist.init_process_group(backend, rank=world.rank, world_size=world.world_size)
        except (RuntimeError, ValueError) as exc:
            raise TrainingError(f"cannot join the {backend} process group: {exc}") from None
        _state["owned"] = True
    if dist.get_world_size() != world.world_size:
        raise TrainingError(
            f"the process group has {dist.get_world_size()} processes, the environment "
            f"says WORLD_SIZE={world.world_size}"
        )
    return str(dist.get_backend())


# -- collectives ----------------------------------------------------------------------------


def _comm_device(tensor_device: torch.device) -> torch.device:
    """Where a collective's buffer must live: on the GPU for nccl, else where it is."""
    import torch
    import torch.distributed as dist

    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return tensor_device


def broadcast_module_state(
    modules: Iterable[torch.nn.Module], *, buffers_only: bool = False
) -> None:
    """Copy rank 0's parameters and buffers (or buffers alone) to every process, one
    broadcast per dtype and device: the networks start identical even where an
    initialisation is not deterministic, and buffers that training changes per process
    (BatchNorm's running statistics) are rank 0's, as ``DistributedDataParallel`` makes
    them."""
    import torch
    import torch.distributed as dist

    tensors: list[torch.Tensor] = []
    for module in modules:
        if not buffers_only:
            tensors += [p.data for p in module.parameters()]
        tensors += list(module.buffers())
    groups: dict[tuple[torch.dtype, torch.device], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype, t.device), []).append(t)
    with torch.no_grad():
        for (_, device), group in groups.items():
            flat = torch.cat([t.reshape(-1) for t in group]).to(_comm_device(device))
            dist.broadcast(flat, src=0)
            offset = 0
            for t in group:
                t.copy_(flat[offset : offset + t.numel()].view_as(t))
                offset += t.numel()


def pack_gradients(
    params: Sequence[torch.nn.Parameter], n_local: int, finite: bool = True
) -> torch.Tensor:
    """One flat buffer to sum over the processes: every gradient times ``n_local`` (the
    rows it was averaged over; zeros for a parameter without one), then one flag per
    parameter (whether it has a gradient), ``n_local`` and whether the loss was not
    finite.  The sum of the buffers holds everything :func:`unpack_gradients` needs."""
    import torch

    dtype = torch.float64 if any(p.dtype == torch.float64 for p in params) else torch.float32
    device = params[0].device if params else torch.device("cpu")
    sizes = [p.numel() for p in params]
    buffer = torch.zeros(sum(sizes) + len(params) + 2, dtype=dtype, device=device)
    offset = 0
    for p, size in zip(params, sizes, strict=True):
        if p.grad is not None:
            torch.mul(p.grad.detach().reshape(-1), n_local, out=buffer[offset : offset + size])
        offset += size
    flags = [float(p.grad is not None) for p in params] + [float(n_local), float(not finite)]
    buffer[offset:] = torch.tensor(flags, dtype=dtype, device=device)
    return buffer


def unpack_gradients(buffer: torch.Tensor, params: Sequence[torch.nn.Parameter]) -> tuple[int, int]:
    """Set each parameter's gradient to the weighted mean in a summed ``buffer`` (none
    where no process had one, so an optimizer skips it as it would alone); returns the
    rows of the global batch and how many processes had a loss that was not finite."""
    k = len(params)
    flags = buffer[-(k + 2) :].tolist()
    total, bad = round(flags[k]), round(flags[k + 1])
    values = buffer[: -(k + 2)]
    if total > 0:
        values.div_(total)
    offset = 0
    for p, present in zip(params, flags[:k], strict=True):
        size = p.numel()
        p.grad = (
            values[offset : offset + size].view_as(p).to(p.dtype) if present and total else None
        )
        offset += size
    return total, bad


def average_gradients(
    params: Sequence[torch.nn.Parameter], n_local: int, finite: bool = True
) -> tuple[int, int]:
    """Replace every process's gradients by their mean over the global batch (weighted by
    the rows each process had), in one all-reduce; returns what :func:`unpack_gradients`
    does."""
    import torch.distributed as dist

    buffer = pack_gradients(params, n_local, finite)
    device = buffer.device
    comm = buffer.to(_comm_device(device))
    dist.all_reduce(comm)
    return unpack_gradients(comm.to(device), params)


def all_reduce_sums(
    sums: Mapping[str, float], count: float = 0.0
) -> tuple[dict[str, float], float]:
    """Sum named numbers and a count over the processes.  The names are rank 0's (it has
    rows whenever any process does); a name another process lacks counts zero there."""
    import torch
    import torch.distributed as dist

    keys: list[str] = broadcast_object(sorted(sums))
    values = torch.tensor(
        [float(sums.get(k, 0.0)) for k in keys] + [float(count)], dtype=torch.float64
    )
    values = values.to(_comm_device(values.device))
    dist.all_reduce(values)
    out = values.tolist()
    return dict(zip(keys, out[:-1], strict=True)), out[-1]


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` (picklable) on every process."""
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(obj: Any) -> list[Any] | None:
    """Every process's ``obj``, in rank order, on rank 0 (``None`` elsewhere)."""
    import torch.distributed as dist

    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    """Wait until every process got here (rank 0 finished writing a checkpoint...)."""
    import torch.distributed as dist

    dist.barrier()
