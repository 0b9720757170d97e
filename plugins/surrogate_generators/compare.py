"""The lecture's comparison of generator families, measured on any registered simulator.

:func:`compare` trains each family (``vae``, ``gan``, ``flow``, ``diffusion`` by default,
plus every registered family marked ``baseline = True``, such as the closed-form Gaussian)
with several seeds on one training sample and measures, per family:

* **likelihood**: what ``log_prob`` gives (``exact``, ``bound`` or ``none``) and its mean
  over held-out simulator events (nats per event, in the units of the raw fields);
* **sample quality** against a fresh reference sample, generated at the reference's
  conditions: the per-marginal Wasserstein-1 distance (in units of the reference's standard
  deviation; the worst and the mean marginal) and the classifier two-sample AUC (0.5: the
  classifier cannot tell them apart), both from :mod:`surrogate.metrics`;
* **training stability**: every number is a mean and standard deviation over the seeds;
  the spread of the AUC and the runs that failed (NaN loss...) are reported on their own;
* **mode coverage**, for simulators that label modes (``Simulator.mode_labels``, e.g.
  ``toy.gmm2d``): the share of generated events in each mode, and how many modes lie
  within ``mode_tolerance`` of their expected share ``1/K``;
* **sampling speed**: events per second at one batch of ``speed_batch`` events, next to the
  simulator's own rate measured in the same run (the ratio is the speed-up).

The reference row ("simulator") holds the floor of each metric: two independent simulator
samples compared with the same metrics, and the simulator's exact log-density where it has
one (``log_prob``).  The pure-numpy core is in :class:`Comparison` (JSON, Markdown, text).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from surrogate.api import hyperparameters_for
from surrogate.errors import SurrogateError
from surrogate.events import Events
from surrogate.factories import simulator as build_simulator
from surrogate.factories import surrogate_class
from surrogate.interfaces import Simulator, Surrogate
from surrogate.io.atomic import write_text_atomic
from surrogate.jsonutil import to_json
from surrogate.registry import get_registry

DEFAULT_FAMILIES = ("vae", "gan", "flow", "diffusion")
#: Default classifier settings: a small network (CPU-friendly); the CaloChallenge preset is
#: available through ``classifier={"preset": "calochallenge"}``.
CLASSIFIER_DEFAULTS: dict[str, Any] = {"preset": "small"}


# -- results ------------------------------------------------------------------------------
@dataclass
class Run:
    """One family trained with one seed, and what was measured on it."""

    family: str
    seed: int
    density: str
    train_seconds: float | None = None
    epochs: int | None = None
    log_likelihood: float | None = None
    w1_worst: float | None = None
    w1_mean: float | None = None
    w1_per_marginal: dict[str, float] = field(default_factory=dict)
    auc: float | None = None
    auc_error: float | None = None
    mode_shares: list[float] | None = None
    off_mode: float | None = None
    sample_rate: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: to_json(v) for k, v in self.__dict__.items()}


@dataclass
class Comparison:
    """The measured table: runs per family, the simulator's reference row and settings."""

    simulator: str
    settings: dict[str, Any]
    reference: dict[str, Any]
    runs: dict[str, list[Run]]

    # -- aggregation ----------------------------------------------------------------------
    def summary(self, family: str) -> dict[str, Any]:
        runs = self.runs[family]
        ok = [r for r in runs if r.error is None]
        out: dict[str, Any] = {
            "family": family,
            "density": runs[0].density if runs else "?",
            "runs": len(runs),
            "failed": len(runs) - len(ok),
        }
        for key in (
            "log_likelihood",
            "w1_worst",
            "w1_mean",
            "auc",
            "off_mode",
            "sample_rate",
            "train_seconds",
        ):
            out[key] = _mean_std([getattr(r, key) for r in ok])
        shares = [r.mode_shares for r in ok if r.mode_shares is not None]
        if shares:
            k = len(shares[0])
            tol = float(self.settings["mode_tolerance"])
            dev = [max(abs(s - 1 / k) for s in run) for run in shares]
            covered = [sum(abs(s - 1 / k) <= tol for s in run) for run in shares]
            out["modes"] = {
                "n_modes": k,
                "covered_min": int(min(covered)),
                "covered_per_seed": [int(c) for c in covered],
                "max_deviation": _mean_std(dev),
                "worst_deviation": float(max(dev)),
            }
        rate = out["sample_rate"]
        sim_rate = self.reference.get("sample_rate")
        if rate is not None and sim_rate:
            out["speed_ratio"] = rate[0] / sim_rate
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulator": self.simulator,
            "settings": to_json(self.settings),
            "reference": to_json(self.reference),
            "families": {
                fam: {"summary": to_json(self.summary(fam)), "runs": [r.to_dict() for r in runs]}
                for fam, runs in self.runs.items()
            },
        }

    # -- rendering ------------------------------------------------------------------------
    COLUMNS = (
        "family",
        "likelihood",
        "held-out log p",
        "W1 worst (mean)",
        "classifier AUC",
        "AUC spread",
        "failed",
        "modes in tol",
        "worst share dev",
        "off-mode",
        "samples/s",
        "x simulator",
        "train s",
    )

    def rows(self) -> list[list[str]]:
        """The table's cells: one row per family, then the simulator's reference row."""
        out = []
        for fam in self.runs:
            s = self.summary(fam)
            modes = s.get("modes")
            out.append(
                [
                    fam,
                    s["density"],
                    _fmt_ms(s["log_likelihood"], 3) if s["density"] != "none" else "-",
                    _fmt_w1(s["w1_worst"], s["w1_mean"]),
                    _fmt_ms(s["auc"], 3),
                    _fmt(s["auc"][1] if s["auc"] else None, 3),
                    f"{s['failed']}/{s['runs']}",
                    f"{modes['covered_min']}/{modes['n_modes']}" if modes else "-",
                    _fmt_ms(modes["max_deviation"], 3) if modes else "-",
                    _fmt_ms(s["off_mode"], 3) if modes else "-",
                    _fmt_rate(s["sample_rate"][0] if s["sample_rate"] else None),
                    _fmt(s.get("speed_ratio"), 3, sig=True),
                    _fmt(s["train_seconds"][0] if s["train_seconds"] else None, 1),
                ]
            )
        ref = self.reference
        modes = ref.get("mode_shares")
        k = len(modes) if modes else 0
        tol = float(self.settings["mode_tolerance"])
        out.append(
            [
                "simulator",
                "exact" if ref.get("log_likelihood") is not None else "-",
                _fmt(ref.get("log_likelihood"), 3),
                _fmt_w1((ref["w1_worst"], 0.0), (ref["w1_mean"], 0.0))
                if ref.get("w1_worst") is not None
                else "-",
                _fmt(ref.get("auc"), 3),
                "-",
                "-",
                f"{sum(abs(s - 1 / k) <= tol for s in modes)}/{k}" if modes else "-",
                _fmt(max(abs(s - 1 / k) for s in modes), 3) if modes else "-",
                _fmt(ref.get("off_mode"), 3) if modes else "-",
                _fmt_rate(ref.get("sample_rate")),
                "1",
                "-",
            ]
        )
        return out

    def markdown(self) -> str:
        st = self.settings
        lines = [
            f"# Generator comparison on `{self.simulator}`",
            "",
            f"Training: {st['n_train']} events; held-out and reference samples: "
            f"{st['n_test']} events each; seeds {', '.join(str(s) for s in st['seeds'])} "
            "(cells: mean ± standard deviation over seeds).",
            "",
            "| " + " | ".join(self.COLUMNS) + " |",
            "|" + "---|" * len(self.COLUMNS),
        ]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows()]
        lines += ["", *self.legend(), ""]
        return "\n".join(lines)

    def legend(self) -> list[str]:
        st = self.settings
        return [
            "- likelihood: what `log_prob` is (exact density, a lower bound, none); held-out "
            "log p: its mean over held-out simulator events, nats per event (higher is better; "
            "the simulator row is the exact log-density, i.e. minus the entropy).",
            "- W1: 1-D Wasserstein-1 distance per marginal in units of the reference's "
            "standard deviation, worst marginal (mean over marginals); classifier AUC: "
            "two-sample test with the metrics' classifier (0.5 = indistinguishable). The "
            "simulator row is the floor: two independent simulator samples.",
            "- AUC spread: standard deviation of the AUC over seeds (training stability); "
            "failed: runs that stopped with an error (NaN loss...).",
            f"- modes in tol: modes whose share of the on-mode generated events is within "
            f"{st['mode_tolerance']:g} of 1/K (fewest over seeds); worst share dev: the "
            "largest deviation of a share from 1/K; off-mode: fraction of events farther "
            "than the simulator's mode radius from every mode (toy.gmm2d: 3 sigma, 1.1 % "
            "for the true mixture). Read the two together: a model with most events off "
            "the modes can still spread its few on-mode events evenly.",
            f"- samples/s: one call of sample({st['speed_batch']}) on {st['device']}, after a "
            "warm-up; x simulator: that rate over the simulator's, measured in the same run.",
        ]

    def text(self) -> str:
        """The table as aligned plain text (what the CLI prints)."""
        rows = [list(self.COLUMNS), *self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.COLUMNS))]
        fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
        lines = [fmt(rows[0]), "  ".join("-" * w for w in widths)]
        lines += [fmt(r) for r in rows[1:]]
        return "\n".join(line.rstrip() for line in lines)

    def save(self, folder: str | Path) -> dict[str, Path]:
        """Write ``comparison.json`` and ``comparison.md`` into ``folder``."""

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"json": folder / "comparison.json", "markdown": folder / "comparison.md"}
        write_text_atomic(paths["json"], json.dumps(self.to_dict(), indent=2) + "\n")
        write_text_atomic(paths["markdown"], self.markdown())
        return paths


# -- measuring ----------------------------------------------------------------------------
def mode_shares(sim: Simulator, events: Events) -> tuple[list[float], float] | None:
    """``(shares, off_mode)``: each mode's share of the on-mode events and the fraction of
    events off every mode (None when ``sim`` labels no modes).

    Uses ``sim.mode_labels(events)`` (-1 for events off every mode) and ``sim.n_modes``;
    the shares are over on-mode events, so they measure coverage, and the off-mode
    fraction is reported on its own."""
    k = int(sim.n_modes)
    labels = sim.mode_labels(events) if k and len(events) else None
    if labels is None:
        return None
    labels = np.asarray(labels)
    on = labels >= 0
    counts = np.bincount(labels[on], minlength=k)[:k]
    shares = [float(c) / max(int(on.sum()), 1) for c in counts]
    return shares, float(1.0 - on.mean())


def baselines() -> list[str]:
    """The registered families marked ``baseline = True``: the floors learned models beat."""
    return [name for name in get_registry().names("surrogate") if surrogate_class(name).baseline]


def simulator_log_prob(sim: Simulator, events: Events) -> float | None:
    """Mean exact log-density of ``events`` under ``sim`` where its normaliser is known."""
    if not sim.has_log_prob:
        return None
    return float(np.mean(sim.log_prob(events)))


def sample_rate(
    sampler: Callable[..., Events], n: int, conditions: Any, seed: int, repeats: int = 1
) -> float:
    """Events per second of ``sampler(n, conditions, seed=...)`` after a small warm-up
    (the best of ``repeats`` calls)."""
    small = None if conditions is None else {k: v[: min(n, 100)] for k, v in conditions.items()}
    sampler(min(n, 100), small, seed=seed)
    best = math.inf
    for i in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        sampler(n, conditions, seed=seed + 1 + i)
        best = min(best, time.perf_counter() - t0)
    return n / best if best > 0 else math.inf


def quality(
    reference: Events, generated: Events, classifier: Mapping[str, Any], seed: int
) -> dict[str, Any]:
    """W1 per marginal and the classifier AUC, from :mod:`surrogate.metrics`."""
    from surrogate.metrics import evaluate

    res = evaluate(
        reference,
        generated,
        {"wasserstein1": {"bootstrap": 0}, "classifier": dict(classifier)},
        seed=seed,
    )
    w1 = res["wasserstein1"]
    per = {k: float(v) for k, v in w1.per_observable.items()}
    return {
        "w1_worst": float(w1.value),
        "w1_mean": float(np.mean(list(per.values()))) if per else None,
        "w1_per_marginal": per,
        "auc": float(res["classifier.auc"].value),
        "auc_error": None
        if res["classifier.auc"].error is None
        else float(res["classifier.auc"].error),
    }


@dataclass(frozen=True)
class Samples:
    """The simulator's samples every family is trained and measured on."""

    train: Events
    held_out: Events
    reference: Events
    floor: Events


@dataclass(frozen=True)
class Job:
    """What training and measuring one family takes (the same for each of its seeds)."""

    sim: Simulator
    cls: type[Surrogate]
    hyperparameters: dict[str, Any]
    options: dict[str, Any]
    data: Samples
    classifier: Mapping[str, Any]
    speed_batch: int


def compare(
    simulator: str | Simulator,
    families: Sequence[str] = DEFAULT_FAMILIES,
    *,
    baseline: bool = True,
    simulator_options: Mapping[str, Any] | None = None,
    n_train: int = 20_000,
    n_test: int = 10_000,
    seeds: Sequence[int] = (0, 1, 2),
    data_seed: int = 12345,
    hyperparameters: Mapping[str, Mapping[str, Any]] | None = None,
    train_options: Mapping[str, Mapping[str, Any]] | None = None,
    classifier: Mapping[str, Any] | None = None,
    mode_tolerance: float = 0.03,
    speed_batch: int = 10_000,
    workdir: str | Path | None = None,
    device: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Comparison:
    """Train ``families`` (and, with ``baseline``, the registered baselines) on
    ``simulator`` and measure the table.

    ``hyperparameters``/``train_options``: per family name, or under ``"*"`` for every
    family (a family's own entry wins).  ``workdir``: where each run keeps its training log
    and model (``runs/FAMILY/seed-S``); ``None``: nowhere.  ``log``: progress messages.
    """
    say = log or (lambda _msg: None)
    sim = (
        build_simulator(simulator, **dict(simulator_options or {}))
        if isinstance(simulator, str)
        else simulator
    )
    extra = [b for b in baselines() if b not in families] if baseline else []
    names = [*extra, *families]
    seeds = [int(s) for s in seeds]
    _check_request(names, seeds, n_train, n_test, workdir)
    classifier = {**CLASSIFIER_DEFAULTS, **dict(classifier or {})}
    hp_all, opt_all = dict(hyperparameters or {}), dict(train_options or {})
    data = _simulate(sim, n_train, n_test, data_seed)
    say(f"data: {n_train} training, {n_test} held-out, {n_test} reference events of {sim.name}")
    ref_row = _reference_row(sim, data, classifier, seeds[0], speed_batch)
    runs: dict[str, list[Run]] = {}
    for fam in names:
        cls = surrogate_class(fam)
        opts = {} if cls.baseline else {**opt_all.get("*", {}), **opt_all.get(fam, {})}
        if device is not None and not cls.baseline:
            opts.setdefault("device", device)
        job = Job(sim, cls, _options_for(cls, hp_all, sim), opts, data, classifier, speed_batch)
        runs[fam] = [
            _run(
                Run(fam, seed, cls.density),
                job,
                None if workdir is None else Path(workdir) / "runs" / fam / f"seed-{seed}",
                say,
            )
            for seed in (seeds[:1] if cls.baseline else seeds)
        ]
    settings = {
        "simulator_options": dict(getattr(sim, "options", {}) or {}),
        "families": names,
        "n_train": int(n_train),
        "n_test": int(n_test),
        "seeds": seeds,
        "data_seed": int(data_seed),
        "hyperparameters": hp_all,
        "train_options": opt_all,
        "classifier": classifier,
        "mode_tolerance": float(mode_tolerance),
        "speed_batch": int(speed_batch),
        "device": device or "default",
    }
    return Comparison(sim.name, settings, ref_row, runs)


def _check_request(
    names: list[str], seeds: list[int], n_train: int, n_test: int, workdir: str | Path | None
) -> None:
    """Refuse a request that cannot produce a table, before any training."""
    if not names:
        raise SurrogateError("compare: no family to train")
    for fam in names:
        surrogate_class(fam)  # unknown names fail before any training
    if not seeds:
        raise SurrogateError("compare: give at least one seed")
    if n_train < 10 or n_test < 10:
        raise SurrogateError("compare: n_train and n_test must be at least 10")
    runs = None if workdir is None else Path(workdir) / "runs"
    if runs is not None and runs.is_dir() and any(runs.iterdir()):
        raise SurrogateError(
            f"{workdir} already holds the runs of an earlier comparison: choose another "
            "directory or remove it"
        )


def _simulate(sim: Simulator, n_train: int, n_test: int, data_seed: int) -> Samples:
    ss = np.random.SeedSequence(int(data_seed)).spawn(4)
    return Samples(
        train=sim.sample(n_train, seed=ss[0]),
        held_out=sim.sample(n_test, seed=ss[1]),
        reference=sim.sample(n_test, seed=ss[2]),
        floor=sim.sample(n_test, seed=ss[3]),
    )


def _reference_row(
    sim: Simulator, data: Samples, classifier: Mapping[str, Any], seed: int, speed_batch: int
) -> dict[str, Any]:
    """The simulator's own row: every metric's floor, its exact density and its speed."""
    row: dict[str, Any] = {"log_likelihood": simulator_log_prob(sim, data.held_out)}
    row.update(quality(data.reference, data.floor, classifier, seed=seed))
    modes = mode_shares(sim, data.floor)
    row["mode_shares"], row["off_mode"] = modes if modes else (None, None)
    row["sample_rate"] = sample_rate(sim.sample, speed_batch, _conds(sim, speed_batch), 7, 3)
    return row


def _options_for(cls: type[Surrogate], hp_all: Mapping[str, Any], sim: Simulator) -> dict:
    """A family's hyper-parameters: those "for every family" it takes, then its own."""
    hp = {k: v for k, v in hp_all.get("*", {}).items() if k in cls.defaults}
    hp.update(hp_all.get(cls.name, {}))
    return hyperparameters_for(cls, hp, sim)  # the simulator's chain or split, as train


def _run(run: Run, job: Job, workdir: Path | None, say: Callable[[str], None]) -> Run:
    """Train and measure one seed; a failed run is recorded, not raised."""
    say(f"{run.family} seed {run.seed}: training")
    try:
        _measure(run, job, workdir)
    except SurrogateError as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        say(f"{run.family} seed {run.seed}: failed: {run.error}")
        return run
    say(
        f"{run.family} seed {run.seed}: trained in {run.train_seconds:.1f} s, "
        f"AUC {run.auc:.3f}, W1 {run.w1_worst:.3f}"
    )
    return run


def _conds(sim: Simulator, n: int) -> dict[str, np.ndarray] | None:
    """Conditions for the speed measurement: drawn from the priors once, shared by all."""
    if not sim.spec.conditions:
        return None
    rng = np.random.default_rng(99)
    return sim.spec.resolve_conditions(n, None, rng)


def _measure(run: Run, job: Job, workdir: Path | None) -> None:
    model = job.cls(**job.hyperparameters)
    t0 = time.perf_counter()
    model.fit(job.data.train, seed=run.seed, workdir=workdir, **job.options)
    run.train_seconds = time.perf_counter() - t0
    result = getattr(model, "training_result", None)
    run.epochs = getattr(result, "epochs_run", None)
    if workdir is not None:
        model.save(workdir)
    if model.density != "none":
        lp = np.asarray(model.log_prob(job.data.held_out), dtype=np.float64)
        run.log_likelihood = float(lp.mean()) if np.isfinite(lp).all() else float("-inf")
    reference = job.data.reference
    generated = model.sample(len(reference), reference.conditions or None, seed=10_000 + run.seed)
    q = quality(reference, generated, job.classifier, seed=run.seed)
    for key, value in q.items():
        setattr(run, key, value)
    modes = mode_shares(job.sim, generated)
    if modes is not None:
        run.mode_shares, run.off_mode = modes
    run.sample_rate = sample_rate(
        model.sample, job.speed_batch, _conds(job.sim, job.speed_batch), 20_000 + run.seed
    )


# -- formatting ---------------------------------------------------------------------------
def _mean_std(values: Sequence[float | None]) -> tuple[float, float] | None:
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def _fmt(x: float | None, digits: int, sig: bool = False) -> str:
    if x is None:
        return "-"
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}" if sig else f"{x:.{digits}f}"


def _fmt_ms(ms: tuple[float, float] | None, digits: int) -> str:
    if ms is None:
        return "-"
    mean, std = ms
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std else f"{mean:.{digits}f}"


def _fmt_w1(worst: tuple[float, float] | None, mean: tuple[float, float] | None) -> str:
    if worst is None:
        return "-"
    text = _fmt_ms(worst, 3)
    return f"{text} ({mean[0]:.3f})" if mean is not None else text


def _fmt_rate(rate: float | None) -> str:
    if rate is None:
        return "-"
    return f"{rate:.3g}" if rate < 1e3 else f"{rate:.3e}".replace("e+0", "e").replace("e+", "e")
