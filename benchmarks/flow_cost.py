"""What a spline flow's training epoch costs on a CPU, and what it buys (issue #10, item 4).

Part ``step``: the seconds of one training step (forward, backward, Adam) of the
two-stage model's shape flow on the dataset-1-photons geometry (368 voxels given 6
conditions: 6 coupling steps, a residual MLP of ``hidden`` with 2 blocks, ``bins``
spline bins) on random inputs, for each ``--configs`` entry, with a profile of the
slowest and fastest configurations' operators (``--profile``), and the epoch cost
(steps x 90k training showers / batch).

Part ``fit``: the same flows as stage 2 of ``twostage`` on ``--events`` ``calo.gflash``
1-photons showers (stage 1 trained one epoch: its cost is the same for every row),
``--epochs`` epochs each: seconds per epoch and stage 2's held-out negative
log-likelihood (nats per shower in model space, the validation tenth) after each epoch.
A configuration is cheaper "for the same held-out log-likelihood" when its curve reaches
the baseline's final value in less time.

A configuration is ``backend:hidden:bins:batch[:lr][:amp]`` (``amp``: the coupling
networks in bfloat16, the ``native`` backend only); the first is the baseline.

    OMP_NUM_THREADS=1 python benchmarks/flow_cost.py --part step
    OMP_NUM_THREADS=1 python benchmarks/flow_cost.py --part fit --events 100000 --epochs 6 \\
        --configs nflows:256:8:256 native:256:8:256 native:128:4:256

Results are merged into ``--json`` (default ``benchmarks/flow-cost-results.json``) and
printed as markdown tables.  Run it from a git worktree at a fixed commit.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from machine_info import machine
from results import save_row

#: the shape flow of a dataset-1-photons two-stage model: voxels, conditions
VOXELS, CONDITIONS, TRAIN_EVENTS = 368, 6, 90_000
DEFAULT_CONFIGS = (
    "nflows:256:8:256",
    "native:256:8:256",
    "native:256:8:1024:0.002",
    "native:128:8:256",
    "native:256:4:256",
    "native:128:4:256",
    "native:128:4:1024:0.002",
)


@dataclass(frozen=True)
class Config:
    """One flow and how it is trained."""

    backend: str
    hidden: int
    bins: int
    batch: int
    lr: float = 1e-3
    amp: bool = False  # bfloat16 autocast of the coupling networks

    @classmethod
    def parse(cls, text: str) -> Config:
        parts = text.split(":")
        amp = parts[-1] == "amp"
        parts = parts[:-1] if amp else parts
        if len(parts) not in (4, 5):
            raise SystemExit(f"a config is backend:hidden:bins:batch[:lr][:amp], not {text!r}")
        lr = float(parts[4]) if len(parts) == 5 else 1e-3
        return cls(parts[0], int(parts[1]), int(parts[2]), int(parts[3]), lr, amp)

    @property
    def label(self) -> str:
        label = f"{self.backend} h{self.hidden} K{self.bins} B{self.batch} lr{self.lr:g}"
        return label + (" bf16" if self.amp else "")

    def flow_options(self) -> dict:
        return {"backend": self.backend, "hidden": self.hidden, "bins": self.bins}


# -- part step ------------------------------------------------------------------------------
def _flow(config: Config):
    import torch

    from surrogate_generators.backbones import make_backbone
    from surrogate_generators.flow_backends import build_flow

    def net(fin: int, fout: int):
        return make_backbone(
            "mlp", fin, fout, CONDITIONS, hidden=config.hidden, blocks=2, zero_init=True
        )

    torch.manual_seed(0)
    return build_flow(config.backend, VOXELS, CONDITIONS, net_factory=net, bins=config.bins)


def step_seconds(config: Config, repeats: int = 10, profile: bool = False) -> dict:
    """Seconds per training step of ``config`` on random inputs (after 3 warm-up steps)."""
    import torch

    flow = _flow(config)
    optimizer = torch.optim.Adam(flow.parameters(), config.lr)
    x, c = torch.randn(config.batch, VOXELS), torch.randn(config.batch, CONDITIONS)

    def step() -> None:
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp):
            loss = -flow.log_prob(x, c).mean()
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    seconds = (time.perf_counter() - t0) / repeats
    row = {
        "config": config.label,
        **asdict(config),
        "parameters": sum(p.numel() for p in flow.parameters()),
        "step_s": seconds,
        "epoch_s": seconds * TRAIN_EVENTS / config.batch,
    }
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as run_profile

        with run_profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(3):
                step()
        row["profile"] = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
    return row


def part_step(args) -> None:
    configs = [Config.parse(c) for c in args.configs]
    for i, config in enumerate(configs):
        row = step_seconds(config, profile=args.profile and i in (0, len(configs) - 1))
        row["machine"] = machine()
        save_row(Path(args.json), "step", row, ("config",))
        print(row.pop("profile", ""))
        print(json.dumps(row), flush=True)


# -- part fit -------------------------------------------------------------------------------
def _twostage(sim, config: Config, epochs: int):
    import surrogate
    from surrogate.api import hyperparameters_for

    cls = surrogate.surrogate_class("twostage")
    options = {
        "stage1_options": {"flow_type": "autoregressive", "hidden": 64},
        "stage1_train": {"epochs": 1},
        "stage2_options": config.flow_options(),
        "stage2_train": {
            "epochs": epochs,
            "batch_size": config.batch,
            "lr": config.lr,
            "amp": config.amp,
        },
    }
    return cls(**hyperparameters_for(cls, options, sim))


def fit_curve(sim, data, test, config: Config, epochs: int) -> dict:
    """Stage 2's held-out loss after each epoch (as trained: under ``amp``, in bfloat16)
    and its seconds per epoch, and the trained model's negative log-likelihood of the
    ``test`` showers in float32 (raw units; stage 1 is the same for every row)."""
    import numpy as np

    model = _twostage(sim, config, epochs)
    t0 = time.perf_counter()
    model.fit(data, seed=1, progress=False)
    seconds = time.perf_counter() - t0
    stage2 = model.stages["stage2"]
    result = stage2.training_result
    return {
        "test_nll": float(-np.mean(model.log_prob(test))),
        "config": config.label,
        **asdict(config),
        "events": len(data),
        "parameters": sum(p.numel() for p in stage2.parameters()),
        "fit_s": seconds,
        "stage2_s": result.seconds,
        "epoch_s": result.seconds / max(result.epochs_run, 1),
        "val_loss": [row.get("val_loss") for row in result.history],
        "history": result.history,
    }


def part_fit(args) -> None:
    import surrogate

    sim = surrogate.simulator("calo.gflash", geometry="1-photons")
    data, test = sim.sample(args.events, seed=1), sim.sample(10_000, seed=2)
    for config in (Config.parse(c) for c in args.configs):
        row = fit_curve(sim, data, test, config, args.epochs)
        row["machine"] = machine()
        save_row(Path(args.json), "fit", row, ("config", "events"))
        print(json.dumps({k: v for k, v in row.items() if k != "history"}), flush=True)


# -- tables ---------------------------------------------------------------------------------
def tables(results: dict) -> str:
    out = []
    steps = results.get("step", {}).get("rows", [])
    if steps:
        base_epoch = steps[0]["epoch_s"]
        out += [
            "| config | parameters | ms / step | epoch s (90k) | x cheaper |",
            "|---|---|---|---|---|",
        ]
        for r in steps:
            out.append(
                f"| {r['config']} | {r['parameters']:,} | {1e3 * r['step_s']:.0f} | "
                f"{r['epoch_s']:.0f} | {base_epoch / r['epoch_s']:.1f} |"
            )
    fits = results.get("fit", {}).get("rows", [])
    if fits:
        out += [
            "",
            "| config | parameters | s / epoch | stage-2 held-out NLL after each epoch | "
            "test NLL (float32) |",
            "|---|---|---|---|---|",
        ]
        for r in fits:
            curve = ", ".join(f"{v:.1f}" for v in r["val_loss"] if v is not None)
            test = f"{r['test_nll']:.1f}" if "test_nll" in r else "-"
            out.append(
                f"| {r['config']} | {r['parameters']:,} | {r['epoch_s']:.0f} | {curve} | {test} |"
            )
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=("step", "fit"))
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS))
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--json", default=str(Path(__file__).with_name("flow-cost-results.json")))
    args = p.parse_args(argv)
    if args.part == "step":
        part_step(args)
    elif args.part == "fit":
        part_fit(args)
    path = Path(args.json)
    if path.exists():
        print(tables(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
