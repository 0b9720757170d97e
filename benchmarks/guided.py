"""Property-guided generation benchmark: rare showers from the simulator by brute force
against the same showers found in a generator's latent space (``surrogate.guided``), each
method given the same wall time.

Set-up (the settings of ``examples/guided_generation.py``, whose functions run here):
``calo.gflash`` geometry ``test`` (96 voxels), electrons at E_inc = 10 GeV; the target is
a shower depth above the simulator's 99th and 99.9th percentiles (found from
``--reference-events`` showers, not counted in any method's time); a VAE (latent 8, 60
epochs) and a flow (4 spline couplings, 20 epochs) trained here on 10^4 showers (seed 1);
each method runs ``--seconds`` on one thread: ``calo.gflash`` in batches of 2000, latent
rejection and the cross-entropy search in batches of 4096 latent draws.  Throughput
is accepted events per second; the adaptive events carry importance weights, so their
effective sample size per second (ESS/s) is their real rate.  W1 and KS compare the depth
inside the range with the simulator's deep showers (the floor row: two halves of the
simulator's own).

    cd /work/wt-guided && OMP_NUM_THREADS=1 \\
        PYTHONPATH=/work/wt-guided:/work/wt-guided/plugins python benchmarks/guided.py

About 10 minutes.  Prints the tables and writes ``benchmarks/guided.md`` (``--md``); a
section from ``## What the figures say`` on in that file is kept as it is.  Not a timed
test: the rates depend on the machine and its load (recorded).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine_info import machine  # benchmarks/ is the script's folder

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1] / "examples"))

from guided_generation import arguments, compare  # noqa: E402
from latent_interpolation import models_for  # noqa: E402

KEPT = "## What the figures say"
QUANTILES = (0.99, 0.999)


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True, text=True
    )
    return out.stdout.strip() or "unknown"


def fmt(x: float, digits: int = 3) -> str:
    return f"{x:,.{digits}g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"


def table(result: dict) -> list[str]:
    """The markdown table of one target."""
    brute = result["rows"][0]
    lines = [
        f"**depth >= {result['low']:.3f} X0** (top {1 - result['quantile']:.1%} of calo.gflash "
        f"at {result['energy'] / 1e3:g} GeV; {result['reference_events']} simulated deep "
        "showers as the reference)",
        "",
        "| method | accepted | accepted/s | x brute | acceptance | proposal acc. | ESS/s "
        "| x brute (ESS) | P(in range), model | W1 [X0] | KS | KS p | deep width [mm] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "accepted" not in r:  # the model never reached the range
            lines.append(f"| {r['method']} |" + " - |" * 12)
            continue
        p = r.get("probability")
        prob = "-" if p is None else f"{p:.2e} ± {r['probability_error']:.1e}"
        lines.append(
            f"| {r['method']} | {r['accepted']:,} | {fmt(r['events_per_s'])} "
            f"| {fmt(r['events_per_s'] / brute['events_per_s'])} | {r['acceptance']:.4f} "
            f"| {r.get('proposal_acceptance', r['acceptance']):.4f} | {fmt(r['ess_per_s'])} "
            f"| {fmt(r['ess_per_s'] / brute['ess_per_s'])} | {prob} | {r['w1']:.3f} "
            f"| {r['ks']:.3f} | {r['ks_p']:.2g} | {r['deep_width_mean']:.3f} |"
        )
    f = result["floor"]
    lines.append(
        f"| simulator halves (floor) | | | | | | | | | {f['w1']:.3f} | {f['ks']:.3f} "
        f"| {f['ks_p']:.2g} | {result['reference_width_mean']:.3f} |"
    )
    return lines


def write_md(path: Path, results: list[dict], info: dict) -> None:
    kept = ""
    if path.exists() and KEPT in path.read_text():
        kept = path.read_text()[path.read_text().index(KEPT) :]
    m = info["machine"]
    lines = [
        "# Property-guided generation: rare showers by brute force or from a latent space",
        "",
        f"`python benchmarks/guided.py` at commit `{info['commit']}` "
        f"({info['seconds_total']:.0f} s here). Set-up: see the script's docstring; "
        f"{info['seconds']:g} s of wall time per method, one torch thread "
        f"({m['torch_threads']}), {m['cpu_count']} CPUs ({m['platform']}), load average "
        f"{', '.join(f'{x:.1f}' for x in m['load_average'])} at the start; batches: "
        "simulator 2000, latent 4096. Training (not in any method's time): "
        + ", ".join(f"{k} {v:.0f} s" for k, v in info["training_s"].items())
        + ".",
        "",
    ]
    for r in results:
        lines += [*table(r), ""]
    path.write_text("\n".join(lines) + ("\n" + kept if kept else ""))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--reference-events", type=int, default=100_000)
    p.add_argument("--models", default=None, help="trained models to use (default: train)")
    p.add_argument("--md", default=str(HERE.parent / "guided.md"))
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    info = {"machine": machine(), "commit": commit(), "seconds": args.seconds}
    import surrogate
    from surrogate_calo import get_geometry

    sim = surrogate.simulator("calo.gflash", geometry="test")
    geo = get_geometry("test")
    with tempfile.TemporaryDirectory() as tmp:
        base = ["--models", args.models or tmp, "--seconds", str(args.seconds)]
        base += ["--reference-events", str(args.reference_events)]
        t = time.perf_counter()
        models = models_for(arguments(base), sim)
        info["training_s"] = {"vae and flow": time.perf_counter() - t}
        results = []
        for q in QUANTILES:
            results.append(compare(models, sim, geo, arguments([*base, "--quantile", str(q)])))
            print("\n".join(table(results[-1])), flush=True)
    info["seconds_total"] = time.perf_counter() - t0
    write_md(Path(args.md), results, info)
    print(f"wrote {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
