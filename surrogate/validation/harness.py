"""``validate``: compare a trained model with ground truth and write the report.

Order of work, so that bad input fails in seconds: load the model and the config, build
the reference (simulator or file) and check it against the model's spec, resolve the
observable sets, metrics and bounds, check the output directory; only then sample,
compute and plot.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SurrogateError
from ..jsonutil import to_json
from ..metrics import Sample, flatten, metrics_for, observable_sets_for, resolve_device
from ..metrics.base import Metric
from . import groundtruth as gt
from .config import check_rows, evaluate_bounds, load_config, metric_selection

log = logging.getLogger("surrogate.validation")

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
PLOTS = "plots"
FORMAT = "surrogate-validation-report"
FORMAT_VERSION = 1
DEFAULT_BATCH = 10_000

#: exit status of ``surrogate validate`` when a bound fails (0: pass, 1: error, 2: usage)
EXIT_FAILED = 3


class ValidationError(SurrogateError):
    """Validation cannot run with these inputs."""


@dataclass
class Report:
    data: dict[str, Any]
    out: Path

    @property
    def status(self) -> str:
        return self.data["status"]

    @property
    def passed(self) -> bool:
        return self.status != "fail"

    @property
    def json_path(self) -> Path:
        return self.out / REPORT_JSON

    @property
    def html_path(self) -> Path:
        return self.out / REPORT_HTML


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 2**20


def _hardware(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if device.startswith("cuda"):
            info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    except ImportError:  # pragma: no cover
        pass
    return info


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out {out} exists and is not a directory")
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"--out {out}: cannot create {parent} ({exc})") from None
    if not os.access(parent, os.W_OK):
        raise ValidationError(f"--out {out}: {parent} is not writable")
    if out.is_dir() and any(out.iterdir()) and not (out / REPORT_JSON).is_file():
        raise ValidationError(
            f"--out {out} is a non-empty directory that holds no validation report: not "
            "overwriting it"
        )


def _model_facts(model: Any, path: Path | None) -> dict[str, Any]:
    from ..checkpoint import read_config

    facts: dict[str, Any] = {
        "path": str(path) if path else None,
        "plugin": model.name,
        "plugin_version": str(model.version),
        "density": model.density,
        "hyperparameters": to_json(model.hyperparameters),
        "provenance": to_json(model.provenance),
        "spec": model.spec.to_dict(),
        "training_metrics": to_json(model.metrics),
    }
    if path is not None:
        try:
            cfg = read_config(path)
            facts["created"] = cfg.get("created")
            facts["toolkit_version"] = cfg.get("toolkit_version")
            facts["weights_sha256"] = cfg["weights"]["sha256"]
        except SurrogateError:
            pass
    return facts


def validate(
    model: Any,
    *,
    n: int,
    out: str | os.PathLike[str],
    simulator: str | None = None,
    simulator_options: Mapping[str, Any] | None = None,
    reference: str | os.PathLike[str] | None = None,
    reference_options: Mapping[str, Any] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | None = None,
    device: str | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
    command: str | None = None,
) -> Report:
    """Validate ``model`` (a trained ``Surrogate`` or a model directory) against ground
    truth and write ``report.json``, ``report.html`` and ``plots/`` into ``out``.

    Exactly one of ``simulator`` (registered name) and ``reference`` (HDF5 or ROOT file)
    gives the ground truth; see :mod:`surrogate.validation.groundtruth`.
    """
    import surrogate

    from .report import render_html

    t_start = time.perf_counter()
    stages: dict[str, float] = {}
    if (simulator is None) == (reference is None):
        raise ValidationError("give exactly one of a simulator and a reference file")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 10:
        raise ValidationError(f"n must be an integer >= 10, not {n!r}")
    n = int(n)
    out = Path(out)
    _check_out(out)

    # -- inputs -----------------------------------------------------------------------
    model_path = None
    if not isinstance(model, surrogate.Surrogate):
        model_path = Path(model)
        model = surrogate.load(model_path)
    if model.spec is None:
        raise ValidationError("the model is not trained (no event spec)")
    cfg = load_config(config)
    seed = int(seed if seed is not None else cfg.get("seed", 0))
    batch_size = int(batch_size or cfg.get("batch_size", DEFAULT_BATCH))
    if batch_size < 1:
        raise ValidationError("batch size must be >= 1")
    dev = str(resolve_device(device, error=ValidationError))

    sim = reader = None
    sim_info: dict[str, Any] = {}
    if simulator is not None:
        sim, sim_info = gt.prepare_simulator(model, simulator, simulator_options)
        context = {
            "simulator": simulator,
            "simulator_options": sim_info["options"],
            "reference_file": None,
        }
    else:
        reader = gt.open_reference(reference, model.spec, n, **dict(reference_options or {}))
        meta = getattr(reader, "metadata", {}) or {}
        context = {
            "simulator": meta.get("producer") if meta.get("producer_kind") == "simulator" else None,
            "simulator_options": meta.get("options") or {},
            "reference_file": str(reference),
        }
    context["model"] = model.name

    sets = observable_sets_for(model.spec, context, cfg.get("observables"))
    if not sets:
        raise ValidationError("no observable set applies to this data")
    selection = metric_selection(cfg)
    metrics: list[Metric] = metrics_for(model.spec, context, selection)
    cls_opts = cfg.get("classifier_options", {})
    if cls_opts:
        from ..metrics.classifier import ClassifierTest

        metrics = [
            m.configured(**cls_opts) if isinstance(m, ClassifierTest) else m for m in metrics
        ]
    tweaks = cfg.get("metric_options", {})
    unknown = sorted(set(tweaks) - {m.name for m in metrics})
    if unknown:
        raise ValidationError(
            f"metric_options for {unknown[0]!r}, which does not run "
            f"(metrics: {', '.join(m.name for m in metrics)})"
        )
    metrics = [m.configured(**tweaks[m.name]) if m.name in tweaks else m for m in metrics]
    if not metrics:
        raise ValidationError("no metric applies to this data")
    rows = {r: None for m in metrics for r in m.row_names()}
    bounds = cfg.get("bounds", [])
    check_rows(bounds, rows)
    _warn_cost(metrics, n, dev)
    stages["checks"] = time.perf_counter() - t_start

    # -- ground truth and model samples -----------------------------------------------
    if hasattr(model, "to") and callable(model.to):
        model.to(dev)
        model_device = dev
    else:
        model_device = "cpu"
    root = np.random.SeedSequence(seed)
    s_data, s_metrics = root.spawn(2)
    t0 = time.perf_counter()
    if sim is not None:
        truth = gt.from_simulator(
            model, sim, n, seed=s_data, batch_size=batch_size, info=dict(sim_info)
        )
    else:
        truth = gt.from_file(model, reader, n, seed=s_data, batch_size=batch_size)
        reader.close()
    stages["sampling"] = time.perf_counter() - t0

    # -- observables and metrics ------------------------------------------------------
    t0 = time.perf_counter()
    ref_s = Sample.from_events(truth.reference, sets, label="reference A")
    flo_s = Sample.from_events(truth.floor_reference, sets, label="reference B")
    gen_s = Sample.from_events(truth.generated, sets, label="model")
    stages["observables"] = time.perf_counter() - t0
    metric_seed = int(s_metrics.generate_state(1)[0])
    table = []
    model_rows: dict[str, dict[str, Any]] = {}
    floor_rows: dict[str, dict[str, Any]] = {}
    for m in metrics:
        t0 = time.perf_counter()
        log.info("metric %s: model vs reference", m.name)
        res_model = flatten(m.name, m.compute(ref_s, gen_s, seed=metric_seed, device=dev))
        log.info("metric %s: reference vs reference (floor)", m.name)
        res_floor = flatten(m.name, m.compute(ref_s, flo_s, seed=metric_seed, device=dev))
        seconds = time.perf_counter() - t0
        stages[f"metric {m.name}"] = seconds
        for row, r in res_model.items():
            model_rows[row] = r.to_dict()
            floor_rows[row] = res_floor[row].to_dict()
            table.append(
                {
                    "name": row,
                    "metric": m.name,
                    "description": m.summary(),
                    "inputs": m.inputs,
                    "options": to_json(m.options),
                    "model": model_rows[row],
                    "floor": floor_rows[row],
                    "seconds": seconds,
                }
            )
    checks = evaluate_bounds(bounds, model_rows, floor_rows)
    status = "no-bounds" if not checks else ("pass" if all(c.passed for c in checks) else "fail")

    # -- timing -------------------------------------------------------------------------
    t_gen = truth.timing["surrogate"]
    t_ref = truth.timing.get("reference")
    speedup = None
    if t_ref and t_gen and t_gen["seconds"] > 0 and t_ref["seconds"] > 0:
        speedup = t_ref["seconds"] / t_gen["seconds"]
    timing = {
        "batch_size": batch_size,
        "events": n,
        "device": dev,
        "model_device": model_device,
        "surrogate": t_gen,
        "reference": t_ref,
        "speedup": speedup,
        "note": truth.timing.get("reference_note", ""),
        "hardware": _hardware(dev),
    }
    if model_device != dev:
        timing["note"] = (
            timing["note"] + f" The model ({model.name}) has no device placement: it sampled "
            "on the CPU."
        ).strip()

    # -- report -------------------------------------------------------------------------
    from .. import __version__

    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "toolkit_version": __version__,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "status": status,
        "model": _model_facts(model, model_path),
        "ground_truth": {
            **truth.info,
            "floor": "every metric is also computed between "
            "reference A and an independent reference B of the same size",
        },
        "settings": {
            "n": n,
            "seed": seed,
            "device": dev,
            "batch_size": batch_size,
            "observable_sets": [type(s).__name__ if not s.name else s.name for s in sets],
            "config": to_json(cfg),
        },
        "observables": [
            {
                "name": k,
                "label": o.label or k,
                "unit": o.unit,
                "group": o.group,
                "fixed_bins": o.bins is not None and not isinstance(o.bins, (int, np.integer)),
                "log": o.log,
            }
            for k, o in ref_s.observables.items()
        ],
        "metrics": table,
        "bounds": [c.to_dict() for c in checks],
        "timing": timing,
        "plots": [],
        "runtime": {},
    }

    parent = out.parent if str(out.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    try:
        t0 = time.perf_counter()
        data["plots"] = _plots(data, ref_s, flo_s, gen_s, model.name, tmp / PLOTS, cfg)
        stages["plots"] = time.perf_counter() - t0
        stages["total"] = time.perf_counter() - t_start
        data["runtime"] = {"stages_seconds": stages, "peak_rss_mb": _peak_rss_mb()}
        _write_json(tmp / REPORT_JSON, data)
        (tmp / REPORT_HTML).write_text(render_html(data, tmp), encoding="utf-8")
        tmp.chmod(0o755)
        _swap_into(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("report written to %s (%s)", out, status)
    return Report(data, out)


def _warn_cost(metrics: list[Metric], n: int, device: str) -> None:
    for m in metrics:
        settings = getattr(m, "settings", None)
        if settings is None or device != "cpu":
            continue
        s = settings()
        flops = 6 * s["hidden"] ** 2 * (s["layers"] + 1) * 1.2 * n * s["epochs"] * 2
        if flops > 5e13:
            log.warning(
                "metric %s: the %s classifier on the CPU with n = %d takes about %.0f minutes "
                "(two trainings); for a quick check use --config quick",
                m.name,
                m.options.get("preset"),
                n,
                flops / 3e10 / 60,
            )


def _plots(data, ref_s, flo_s, gen_s, model_name, folder: Path, cfg) -> list[dict[str, Any]]:
    from .plots import plot_observable, safe_name, save_figure

    sep = next((r for r in data["metrics"] if r["name"] == "separation_power"), None)
    names = list(ref_s.observables)
    limit = cfg.get("max_plots")
    if limit is not None:
        names = names[: int(limit)]
    taken: set[str] = set()
    out = []
    for name in names:
        obs = ref_s.observables[name]
        note = ""
        if sep is not None and name in sep["model"]["per_observable"]:
            note = (
                f"separation power: model {sep['model']['per_observable'][name]:.2e}, "
                f"floor {sep['floor']['per_observable'][name]:.2e}"
            )
        n_bins = int((sep or {}).get("options", {}).get("bins", 50))
        fig = plot_observable(
            name,
            obs,
            obs.values,
            flo_s.observables[name].values,
            gen_s.observables[name].values,
            n_bins=n_bins,
            model_label=f"model ({model_name})",
            annotation=note,
        )
        paths = save_figure(fig, folder, safe_name(name, taken))
        out.append({"observable": name, **paths})
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    import json

    from ..schemas import validate as validate_schema

    errors = validate_schema(data, "report")
    if errors:  # a bug, not a user error: say so loudly
        raise RuntimeError(
            "report does not match schemas/report.schema.json: " + "; ".join(errors[:5])
        )
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _swap_into(tmp: Path, out: Path) -> None:
    """Replace ``out`` (absent, empty, or a previous report) by the finished ``tmp``."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
