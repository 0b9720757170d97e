"""Cosmology benchmark: the particle mesh's cost and accuracy, and field surrogates
against it (issue #11).

Part ``pm`` (minutes): ``cosmo.pm``'s wall time and peak memory (tracemalloc) against
  particles per side (32^3 - 128^3, mesh 2x, 10 steps); the linear-regime ratio
  P_PM / P_ZA at z = 0 for force meshes B = 1-4 (sigma8 = 0.02, the same phases); and
  P_PM / P_halofit (CAMB's Takahashi halofit, when ``camb`` is installed) at the notes'
  set-up: 64^3 particles in 256 Mpc/h, B = 2, 10 steps, 8 paired-fixed runs.

Part ``data``: the event files under ``--workdir``: ``train.h5`` (``--train-maps`` maps,
  64^2, projected through 8 slabs of 64^3-particle runs over a Latin hypercube of
  (omega_m, sigma8) in ``--omega-m`` x ``--sigma8``), ``fiducial.h5`` (``--test-maps``
  fresh maps at the fiducial cosmology) and ``response-lo/hi.h5`` (sigma8 -/+ 0.05 with
  the same seeds, so the same phases: the response d ln P / d ln sigma8 with little noise).

Part ``train``: each family of ``--families`` (conv backbones, options from
  ``--family-options``) trained within ``--minutes`` on ``train.h5``, saved under
  ``--workdir``.

Part ``score``: every saved model, and the baselines ``cosmo.lpt`` and ``cosmo.lognormal``,
  generate ``--test-maps`` maps at the fiducial cosmology, scored against ``fiducial.h5``:
  the worst P(k) ratio - 1 for k <= k_Nyq/2 (``cosmo.power_spectrum``), the response at
  k = 0.1 h/Mpc against the simulator's, the largest scatter pulls of the PDF, peak
  counts and Minkowski functionals, and maps per second against ``cosmo.pm``'s in the
  same process (one thread, batch ``--speed-batch``).  The floor row is a second
  ``cosmo.pm`` sample scored the same way.

    python benchmarks/cosmo.py --part pm
    OMP_NUM_THREADS=1 python benchmarks/cosmo.py --part data --workdir /tmp/cosmo
    OMP_NUM_THREADS=1 python benchmarks/cosmo.py --part train --families gan --minutes 30 \\
        --workdir /tmp/cosmo
    OMP_NUM_THREADS=1 python benchmarks/cosmo.py --part score --workdir /tmp/cosmo
    python benchmarks/cosmo.py                      # the tables of what is saved

Part ``response``: what a model's response to sigma8 is made of.  The training set's own
  d ln P / d ln sigma8 at k = 0.1 near the fiducial point (each run's mean P, a weighted
  plane in (ln omega_m, ln sigma8) with Gaussian kernels of 0.1 and 0.2 of each range, and
  the whole set), and each source's ln P(k = 0.1) at seven sigma8 (fiducial omega_m,
  ``--response-maps`` maps each, one seed): its slope over the scan and interval by interval,
  and the slopes of P(k) of the log field the models learn, of the variance of delta and
  of its 99th and 99.9th percentiles (the high-density tail).

Rows are merged into ``--json`` (default ``benchmarks/cosmo-results.json``).  Run long
parts from a ``git worktree`` at a fixed commit.
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import numpy as np
from machine_info import machine  # benchmarks/ is the script's folder
from results import save_row

FIDUCIAL = {"omega_m": 0.3175, "sigma8": 0.834}
#: ``--fields maps`` (the issue's training set) and ``cubes`` (its 3D-cube run)
FIELDS = {
    "maps": {"box": 256.0, "particles": 64, "steps": 10, "output": "maps", "maps_per_run": 8},
    "cubes": {"box": 256.0, "particles": 32, "steps": 10, "output": "cube"},
}
RESPONSE_STEP = 0.05  # sigma8 -/+ this for the response
K_RESPONSE = 0.1  # h/Mpc
METRICS = {"cosmo.power_spectrum": {}, "cosmo.pdf": {}, "cosmo.peaks": {}, "cosmo.minkowski": {}}
DEFAULT_OPTIONS = {
    "gan": {"backbone": "conv", "hidden": 32, "blocks": 1, "latent": 64},
    "diffusion": {"backbone": "conv", "hidden": 32, "blocks": 1},
    "vae": {"backbone": "conv", "hidden": 32, "blocks": 1, "latent": 64},
}


def spectra(delta: np.ndarray, box: float, ndim: int | None = None) -> tuple[np.ndarray, ...]:
    """(k, P(k) of each field) with the estimator every part uses (CIC deconvolved);
    ``ndim`` defaults to a stack of fields (a leading event axis)."""
    from surrogate_cosmo.statistics import power_spectrum

    ps = power_spectrum(delta, box, window="cic", ndim=delta.ndim - 1 if ndim is None else ndim)
    return ps.k, ps.power


# -- part pm --------------------------------------------------------------------------------
def pm_cost(particles: int, seed: int = 0) -> dict:
    """Wall time and tracemalloc peak of one ``cosmo.pm`` cube run."""
    import surrogate

    sim = surrogate.simulator("cosmo.pm", particles=particles, box=4.0 * particles)
    tracemalloc.start()
    t0 = time.perf_counter()
    sim.sample(1, FIDUCIAL, seed=seed)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "particles": particles,
        "mesh": 2 * particles,
        "seconds": seconds,
        "peak_mb": peak / 2**20,
    }


def linear_regime(b_values=(1, 2, 3, 4), particles: int = 64, box: float = 256.0) -> list[dict]:
    """P_PM / P_ZA at z = 0 for sigma8 = 0.02 (linear), measured on a 2x finer grid."""
    from surrogate_cosmo.fields import gaussian_modes
    from surrogate_cosmo.linear import Cosmology, LinearPower, growth
    from surrogate_cosmo.lpt import displacements, lpt_state
    from surrogate_cosmo.mesh import density_contrast
    from surrogate_cosmo.pm import PMConfig, run_pm

    cosmo = Cosmology(sigma8=0.02)
    modes = gaussian_modes((particles,) * 3, box, LinearPower(cosmo), np.random.default_rng(0))
    g = growth(cosmo.omega_m)
    rows = []
    for b in b_values:
        cfg = PMConfig(box, particles, b * particles, 10)
        x, _ = run_pm(modes, g, cfg)
        disp = displacements(modes, particles, box, order=1)
        xz, _ = lpt_state(disp, particles, box, g, 1.0, cfg.lattice_offset)
        k, p_pm = spectra(density_contrast(x, 2 * particles, box), box, ndim=3)
        _, p_za = spectra(density_contrast(xz, 2 * particles, box), box, ndim=3)
        rows.append({"B": b, "k": k.tolist(), "ratio": (p_pm / p_za).tolist()})
    return rows


def halofit_ratio(runs: int = 8) -> dict:
    """Mean P_PM / P_halofit over paired-fixed runs at the notes' set-up (needs camb)."""
    try:
        import camb
    except ImportError:
        return {"error": "camb is not installed (pip install camb)"}
    import surrogate

    sim = surrogate.simulator("cosmo.pm", paired_fixed=True, grid=128)
    events = sim.sample(runs, FIDUCIAL, seed=11)
    k, power = spectra(events["delta"], 256.0)
    pk = _camb_halofit(camb, k)
    ratio = power / pk
    return {
        "k": k.tolist(),
        "ratio": ratio.mean(axis=0).tolist(),
        "error": (ratio.std(axis=0, ddof=1) / np.sqrt(runs / 2)).tolist(),
        "runs": runs,
    }


def _camb_halofit(camb, k: np.ndarray) -> np.ndarray:
    """CAMB's Takahashi halofit at z = 0 for the fiducial cosmology, sigma8-normalised."""
    from surrogate_cosmo.linear import Cosmology

    c = Cosmology(omega_m=FIDUCIAL["omega_m"], sigma8=FIDUCIAL["sigma8"])
    h = c.h
    pars = camb.set_params(
        H0=100 * h,
        ombh2=c.omega_b * h**2,
        omch2=(c.omega_m - c.omega_b) * h**2,
        ns=c.n_s,
        As=2e-9,
        mnu=0.0,
        num_massive_neutrinos=0,
        halofit_version="takahashi",
    )
    pars.set_matter_power(redshifts=[0.0], kmax=20.0)
    pars.NonLinear = camb.model.NonLinear_none
    sigma8_lin = camb.get_results(pars).get_sigma8_0()
    pars.InitPower.set_params(As=2e-9 * (c.sigma8 / sigma8_lin) ** 2, ns=c.n_s)
    pars.NonLinear = camb.model.NonLinear_both
    interp = camb.get_matter_power_interpolator(
        pars, nonlinear=True, hubble_units=True, k_hunit=True
    )
    return interp.P(0.0, k)


def part_pm(args) -> None:
    path = Path(args.json)
    for n in args.particles:
        row = pm_cost(n)
        row["machine"] = machine()
        save_row(path, "pm_cost", row, ("particles",))
        print(json.dumps(row), flush=True)
    save_row(path, "pm_linear", {"name": "B", "rows": linear_regime()}, ("name",))
    save_row(path, "pm_halofit", {"name": "halofit", **halofit_ratio()}, ("name",))


# -- part data ------------------------------------------------------------------------------
def latin_hypercube(runs: int, ranges: dict[str, tuple[float, float]], seed: int) -> dict:
    """One point per run: each range cut in ``runs`` strata, one draw per stratum,
    strata shuffled independently per parameter (McKay et al. 1979)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (low, high) in ranges.items():
        u = (rng.permutation(runs) + rng.uniform(size=runs)) / runs
        out[name] = low + (high - low) * u
    return out


def part_data(args) -> None:
    from surrogate.api import simulate

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    options = FIELDS[args.fields]
    slabs = options.get("maps_per_run", 1)
    m = slabs if args.maps_per_run is None else args.maps_per_run  # fewer: more realisations
    if not 1 <= m <= slabs:
        raise SystemExit(f"--maps-per-run must be 1 to {slabs}, not {m}")
    runs = args.train_maps // m
    ranges = {"omega_m": tuple(args.omega_m), "sigma8": tuple(args.sigma8)}
    lh = {k: np.repeat(v, m) for k, v in latin_hypercube(runs, ranges, seed=0).items()}
    jobs = [
        ("train", runs * m, lh, 1),
        ("fiducial", args.test_maps, FIDUCIAL, 2),
        (
            "response-lo",
            args.response_maps,
            {**FIDUCIAL, "sigma8": FIDUCIAL["sigma8"] - RESPONSE_STEP},
            3,
        ),
        (
            "response-hi",
            args.response_maps,
            {**FIDUCIAL, "sigma8": FIDUCIAL["sigma8"] + RESPONSE_STEP},
            3,
        ),
    ]
    for name, n, conditions, seed in jobs:
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        simulate(
            "cosmo.pm",
            n,
            workdir / f"{name}.h5",
            options=options,
            conditions=conditions,
            seed=seed,
            chunk_size=64 * m,
            progress=True,
        )
        seconds = time.perf_counter() - t0
        row = {"fields": args.fields, "file": name, "n": n, "seconds": seconds}
        row |= {"workdir": workdir.name, "train_maps_per_run": m}
        row |= {"per_s": n / seconds, "options": options, "ranges": ranges}
        save_row(Path(args.json), "data", row, ("fields", "file", "train_maps_per_run"))
        print(json.dumps(row), flush=True)


# -- part train -----------------------------------------------------------------------------
def part_train(args) -> None:
    import surrogate
    from surrogate.api import hyperparameters_for

    workdir = Path(args.workdir)
    sim = surrogate.simulator("cosmo.pm", **FIELDS[args.fields])
    for family in args.families:
        options = {**DEFAULT_OPTIONS.get(family, {}), **args.family_options.get(family, {})}
        train = options.pop("train", {})
        if args.device != "auto":  # the loop's default; a closed-form stage takes no options
            train["device"] = args.device
        cls = surrogate.surrogate_class(family)
        model = cls(**hyperparameters_for(cls, options, sim))
        t0 = time.perf_counter()
        model.fit(str(workdir / "train.h5"), seed=1, max_time=args.minutes * 60, **train)
        seconds, label = time.perf_counter() - t0, family + (f"+{args.tag}" if args.tag else "")
        model.save(workdir / f"model-{label}")  # first: a row that fails loses no model
        row = {
            "fields": args.fields,
            "family": label,
            "options": options,
            "train": train,
            "train_seconds": seconds,
        }
        stages = getattr(model, "stages", None) or {"": model}  # a two-stage model's parts
        for stage, part in stages.items():
            result = getattr(part, "training_result", None)  # None: fitted in closed form
            if result is None:
                continue
            prefix = f"{stage}_" if stage else ""
            row[f"{prefix}epochs_run"] = result.epochs_run
            row[f"{prefix}best_epoch"] = result.best_epoch
            row[f"{prefix}parameters"] = sum(p.numel() for p in part.parameters())
            row[f"{prefix}history"] = result.history  # the learning curve: losses per epoch
        save_row(Path(args.json), "train", row, ("fields", "family"))
        print(json.dumps(row, default=str), flush=True)


# -- part score -----------------------------------------------------------------------------
def map_power(events, box: float) -> np.ndarray:
    """P(k) of each field in the bin containing ``K_RESPONSE``."""
    k, power = spectra(events["delta"], box)
    return power[:, int(np.argmin(np.abs(k - K_RESPONSE)))]


def response(lo, hi, box: float) -> float:
    """d ln P / d ln sigma8 at ``K_RESPONSE`` from samples at sigma8 -/+ the step."""
    s_lo, s_hi = FIDUCIAL["sigma8"] - RESPONSE_STEP, FIDUCIAL["sigma8"] + RESPONSE_STEP
    ratio = map_power(hi, box).mean() / map_power(lo, box).mean()
    return float(np.log(ratio) / np.log(s_hi / s_lo))


def maps_per_second(source, n: int, seed: int = 9) -> float:
    source.sample(min(n, 8), FIDUCIAL, seed=seed)  # warm-up
    t0 = time.perf_counter()
    source.sample(n, FIDUCIAL, seed=seed)
    return n / (time.perf_counter() - t0)


def score(source, reference, n: int, n_resp: int, options: dict) -> dict:
    """The issue's figures for fields from ``source`` against the ``reference`` fields."""
    from surrogate.metrics import evaluate

    gen = source.sample(n, FIDUCIAL, seed=5)
    metrics = {k: v for k, v in METRICS.items() if options["output"] == "maps" or "mink" not in k}
    res = evaluate(reference, gen, metrics, seed=0, context={"simulator_options": options})
    lo = source.sample(n_resp, {**FIDUCIAL, "sigma8": FIDUCIAL["sigma8"] - RESPONSE_STEP}, seed=6)
    hi = source.sample(n_resp, {**FIDUCIAL, "sigma8": FIDUCIAL["sigma8"] + RESPONSE_STEP}, seed=6)
    row = {"response": response(lo, hi, options["box"])}
    for name in metrics:
        r = res[name]
        row[name] = r.value
        row[f"{name}.details"] = r.details
    return row


def _sources(workdir: Path, options: dict, only: list[str] | None):
    """(label, source) of the simulators and of every saved model, those in ``only`` when
    given; a model is loaded only when it is wanted, so one unloadable folder stops
    nothing else."""
    import surrogate

    names = ("cosmo.pm", "cosmo.lpt", "cosmo.lognormal")
    labels = {"cosmo.pm": "floor (cosmo.pm)"}
    for name in names:
        if not only or labels.get(name, name) in only:
            yield labels.get(name, name), surrogate.simulator(name, **options)
    for folder in sorted(workdir.glob("model-*")):
        label = folder.name.removeprefix("model-")
        if not only or label in only:
            yield label, surrogate.load(folder)


def part_score(args) -> None:
    from surrogate.io.hdf5 import EventFile

    workdir, options = Path(args.workdir), FIELDS[args.fields]
    reference = EventFile(workdir / "fiducial.h5").read()
    files = (EventFile(workdir / f"response-{s}.h5").read() for s in ("lo", "hi"))
    sim_response = response(*files, options["box"])
    pm_speed = None
    # (--only without the floor: the x cosmo.pm column then needs a full run's floor row)
    for label, source in _sources(workdir, options, args.only):
        row = {"fields": args.fields, "source": label, "test_fields": len(reference)}
        row["simulator_response"] = sim_response
        try:
            row |= score(source, reference, len(reference), args.response_maps, options)
            row["maps_per_s"] = maps_per_second(source, args.speed_batch)
        except Exception as exc:  # one source's failure must not lose the others
            row["error"] = f"{type(exc).__name__}: {exc}"
        pm_speed = row.get("maps_per_s") if label.startswith("floor") else pm_speed
        row["x_pm"] = row.get("maps_per_s", 0) / pm_speed if pm_speed else None
        row["machine"] = machine()
        save_row(Path(args.json), "score", row, ("fields", "source"))
        print(json.dumps({k: v for k, v in row.items() if not k.endswith(".details")}, default=str))


# -- part response --------------------------------------------------------------------------
#: sigma8 at the fiducial omega_m where each source's P(k = 0.1) is drawn (part response)
SCAN_SIGMA8 = (0.72, 0.76, 0.80, 0.834, 0.87, 0.91, 0.94)
#: widths of the Gaussian kernel of the training set's local fit, in units of each range
KERNEL_WIDTHS = (0.1, 0.2, None)


def run_means(events, box: float) -> tuple[np.ndarray, np.ndarray]:
    """ln of each run's mean P(K_RESPONSE) and its (omega_m, sigma8): a run is a stretch
    of consecutive maps with equal conditions, as ``cosmo.pm`` writes them."""
    cond = np.stack([events.conditions["omega_m"], events.conditions["sigma8"]], axis=1)
    start = np.r_[0, np.flatnonzero((cond[1:] != cond[:-1]).any(axis=1)) + 1]
    power = np.add.reduceat(map_power(events, box), start) / np.diff(np.r_[start, len(cond)])
    return np.log(power), cond[start]


def local_slope(ln_p: np.ndarray, cond: np.ndarray, width: float | None, ranges) -> dict:
    """d ln P / d ln sigma8 at the fiducial cosmology from a weighted least-squares plane
    in (ln omega_m, ln sigma8), Gaussian weights of ``width`` times each range around the
    fiducial point (``None``: the whole set), with its sandwich standard error."""
    x = np.column_stack([np.ones(len(ln_p)), np.log(cond)])
    fid = np.array([FIDUCIAL["omega_m"], FIDUCIAL["sigma8"]])
    span = np.array([hi - lo for lo, hi in ranges])
    w = (
        np.ones(len(ln_p))
        if width is None
        else np.exp(-0.5 * (((cond - fid) / span / width) ** 2).sum(1))
    )
    xtw = x.T * w
    inv = np.linalg.inv(xtw @ x)
    beta = inv @ xtw @ ln_p
    resid = ln_p - x @ beta
    cov = inv @ (xtw * resid**2) @ xtw.T @ inv
    return {
        "width": width,
        "slope": float(beta[2]),
        "error": float(np.sqrt(cov[2, 2])),
        "effective_runs": float(w.sum() ** 2 / (w**2).sum()),
        "run_scatter": float(np.sqrt(np.average(resid**2, weights=w))),
    }


def summaries(events, box: float) -> dict[str, np.ndarray]:
    """What a field's response to sigma8 can be read from: the mean P(k) of ``delta`` and
    of the log field the models learn (``log(delta + eps)`` of the plugin's chain, each
    map's mean removed), the variances of both and the 99th and 99.9th percentiles of
    ``delta`` (the high-density tail, which P(k) of ``delta`` weighs heavily)."""
    from surrogate_cosmo.preprocessing import LOG_DENSITY_CHAIN

    delta = np.asarray(events["delta"], np.float64)
    log_field = np.log(delta + LOG_DENSITY_CHAIN[0]["eps"])
    log_field -= log_field.mean(axis=tuple(range(1, delta.ndim)), keepdims=True)
    k, power = spectra(delta, box)
    _, log_power = spectra(log_field, box)
    q99, q999 = np.quantile(delta, [0.99, 0.999])
    return {
        "k": k,
        "power": power.mean(axis=0),
        "log_power": log_power.mean(axis=0),
        "variance": delta.var(),
        "log_variance": log_field.var(),
        "q99": q99,
        "q999": q999,
    }


def scan(source, n: int, box: float) -> dict:
    """``n`` fields at each ``SCAN_SIGMA8`` (fiducial omega_m, the same seed at every
    point, so a simulator's phases are shared): d ln P / d ln sigma8 at ``K_RESPONSE``
    over the scan and interval by interval, and the scan's slope of each summary
    (:func:`summaries`; of the spectra in every k bin)."""
    rows = [
        summaries(source.sample(n, {**FIDUCIAL, "sigma8": s8}, seed=6), box) for s8 in SCAN_SIGMA8
    ]
    x = np.log(SCAN_SIGMA8)
    k = rows[0].pop("k")
    ln = {name: np.log([r[name] for r in rows]) for name in rows[0]}
    i = int(np.argmin(np.abs(k - K_RESPONSE)))
    ln_p = ln["power"][:, i]
    return {
        "sigma8": list(SCAN_SIGMA8),
        "ln_p": ln_p.tolist(),
        "slopes": (np.diff(ln_p) / np.diff(x)).tolist(),
        "fit_slope": float(np.polyfit(x, ln_p, 1)[0]),
        "k": k.tolist(),
        **{f"fit_slope_{name}": np.polyfit(x, v, 1)[0].tolist() for name, v in ln.items()},
    }


def part_response(args) -> None:
    """What the models' response to sigma8 is made of: the slope the training set itself
    holds near the fiducial point, and each source's P(k = 0.1) across sigma8."""
    from surrogate.io.hdf5 import EventFile

    workdir, options = Path(args.workdir), FIELDS[args.fields]
    ranges = (tuple(args.omega_m), tuple(args.sigma8))
    ln_p, cond = run_means(EventFile(workdir / "train.h5").read(), options["box"])
    row = {
        "fields": args.fields,
        "source": "training set",
        "workdir": workdir.name,
        "runs": len(ln_p),
    }
    row["fits"] = [local_slope(ln_p, cond, w, ranges) for w in KERNEL_WIDTHS]
    save_row(Path(args.json), "response", row, ("fields", "source", "workdir"))
    print(json.dumps(row), flush=True)
    for label, source in _sources(workdir, options, args.only):
        row = {
            "fields": args.fields,
            "source": label,
            "workdir": workdir.name,
            "maps": args.response_maps,
        }
        row |= scan(source, args.response_maps, options["box"])
        save_row(Path(args.json), "response", row, ("fields", "source", "workdir"))
        print(json.dumps(row), flush=True)


# -- tables ---------------------------------------------------------------------------------
def _f(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict) -> str:
    lines = ["| particles | mesh | s / run | peak MB |", "|---|---|---|---|"]
    for r in results.get("pm_cost", {}).get("rows", []):
        lines.append(
            f"| {r['particles']}^3 | {r['mesh']}^3 | {r['seconds']:.2f} | {r['peak_mb']:.0f} |"
        )
    lines += [
        "",
        "| fields | source | P(k) worst % (k<=k_Nyq/2) | response (sim) | PDF pull "
        "| peaks pull | MF pull | fields/s | x cosmo.pm |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.get("score", {}).get("rows", []):
        if "error" in r:
            lines.append(f"| {r.get('fields', 'maps')} | {r['source']} | error: {r['error']} |")
            continue
        lines.append(
            f"| {r.get('fields', 'maps')} | {r['source']} | "
            f"{_f(r.get('cosmo.power_spectrum'), '.1f')} | "
            f"{_f(r.get('response'), '.2f')} ({_f(r.get('simulator_response'), '.2f')}) | "
            f"{_f(r.get('cosmo.pdf'), '.2f')} | {_f(r.get('cosmo.peaks'), '.2f')} | "
            f"{_f(r.get('cosmo.minkowski'), '.2f')} | {_f(r.get('maps_per_s'), '.1f')} | "
            f"{_f(r.get('x_pm'), '.1f')} |"
        )
    return "\n".join(lines + response_table(results.get("response", {}).get("rows", [])))


def response_table(rows: list[dict]) -> list[str]:
    """Part response's rows: the training set's local slopes, and each source's scan
    (d ln X / d ln sigma8 of P(k = 0.1), the variance of delta and its 99th percentile)."""
    lines = [
        "",
        "| workdir | source | P(k = 0.1) | var delta | q99 delta | P(0.1) by interval |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "fits" in r:
            fits = ", ".join(
                f"{f['slope']:.2f} +/- {f['error']:.2f} ({f['effective_runs']:.0f} runs)"
                for f in r["fits"]
            )
            lines.append(f"| {r['workdir']} | training set, local fits | {fits} | | | |")
            continue
        steps = " ".join(f"{v:.2f}" for v in r["slopes"])
        lines.append(
            f"| {r['workdir']} | {r['source']} | {r['fit_slope']:.2f} | "
            f"{_f(r.get('fit_slope_variance'), '.2f')} | {_f(r.get('fit_slope_q99'), '.2f')} | "
            f"{steps} |"
        )
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("pm", "data", "train", "score", "response"), default=None)
    p.add_argument("--json", default=str(Path(__file__).with_name("cosmo-results.json")))
    p.add_argument("--workdir", default="cosmo-work")
    p.add_argument("--fields", choices=tuple(FIELDS), default="maps")
    p.add_argument("--particles", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--train-maps", type=int, default=2048)
    p.add_argument("--test-maps", type=int, default=1024)
    p.add_argument("--response-maps", type=int, default=256)
    p.add_argument("--omega-m", type=float, nargs=2, default=[0.25, 0.40])
    p.add_argument("--sigma8", type=float, nargs=2, default=[0.70, 0.95])
    p.add_argument("--families", nargs="+", default=["gan", "diffusion", "vae"])
    p.add_argument("--family-options", type=json.loads, default={})
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--tag", default="")
    p.add_argument(
        "--only", nargs="*", default=None, help="parts data, score, response: these only"
    )
    p.add_argument(
        "--maps-per-run",
        type=int,
        default=None,
        help="part data: training maps kept from each run (default: all its slabs)",
    )
    p.add_argument("--speed-batch", type=int, default=256)
    p.add_argument("--device", default="auto", help="training device: auto (cuda when present)")
    args = p.parse_args(argv)
    parts = {
        "pm": part_pm,
        "data": part_data,
        "train": part_train,
        "score": part_score,
        "response": part_response,
    }
    if args.part:
        parts[args.part](args)
    path = Path(args.json)
    if path.exists():
        print(table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
