"""Validate a shower surrogate against a CaloChallenge-format reference file.

With the real Geant4 datasets (Zenodo: ds1 10.5281/zenodo.8099322, ds2 10.5281/zenodo.6366270,
ds3 10.5281/zenodo.6366323; one file trains, another is the reference)::

    python examples/calo_validate_challenge.py --geometry 1-photons \\
        --train dataset_1_photons_1.hdf5 --reference dataset_1_photons_2.hdf5 --out val-ds1

Without files (``--demo``), ``calo.gflash`` writes stand-ins in exactly the challenge's
format (two datasets, no attributes), so the whole path runs offline in a few minutes.

Steps: check the files against the geometry (voxel count, shapes); train a generator on
the training file (or ``--model DIR`` to use a trained one); run the validation harness
with the challenge's metrics against the reference file (``report.html`` in ``--out``);
write the model's showers at the reference's incident energies as a challenge file and
print the ``evaluate.py`` command that scores it with the challenge's own code.
The same from the command line::

    surrogate train flow --data train.hdf5 ... # (challenge files need the spec: use Python)
    surrogate validate MODEL --reference reference.hdf5 -n 10000 --out val --config quick
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import surrogate
from surrogate_calo.io import inspect_challenge_file, read_challenge, write_challenge


def _num(value: float | None) -> str:
    """A value of the report, or why there is none (a summary is null when a histogram
    the model left empty failed it, a floor is null when not computed)."""
    return "n/a" if value is None else f"{value:.4g}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--geometry", default="1-photons")
    p.add_argument("--train", help="CaloChallenge training file")
    p.add_argument("--reference", help="CaloChallenge reference file")
    p.add_argument("--model", help="a trained model directory (skips training)")
    p.add_argument("--family", default="flow")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("-n", type=int, default=10_000, help="events per sample in the validation")
    p.add_argument("--out", default="calo-validation")
    p.add_argument("--demo", action="store_true", help="make stand-in files with calo.gflash")
    p.add_argument("--quick", action="store_true", help="tiny sizes: checks the plumbing only")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.n, args.epochs = min(args.n, 1_000), 2

    sim = surrogate.simulator("calo.gflash", geometry=args.geometry)
    if args.demo or not (args.reference and (args.train or args.model)):
        if not args.demo:
            p.error("give --reference and --train (or --model), or --demo")
        print("demo: writing stand-in challenge files with calo.gflash")
        args.train = str(out / "train.hdf5")
        args.reference = str(out / "reference.hdf5")
        write_challenge(args.train, sim.sample(4 * args.n, seed=1), args.geometry, metadata=False)
        write_challenge(
            args.reference, sim.sample(2 * args.n, seed=2), args.geometry, metadata=False
        )

    info = inspect_challenge_file(args.reference, args.geometry)
    print(f"reference {args.reference}: {info}")
    if args.model:
        model = surrogate.load(args.model)
    else:
        inspect_challenge_file(args.train, args.geometry)
        data = read_challenge(args.train, args.geometry)  # real Geant4 showers read the same way
        print(f"training {args.family} on {len(data)} showers of {args.train}")
        model = surrogate.surrogate(args.family, preprocessing=sim.preprocessing())
        model.fit(data, seed=1, epochs=args.epochs, progress=False)
        model.save(out / "model")

    from surrogate.validation import validate

    config = {
        "metrics": {
            "calo.separation_power": {},
            "calo.cls_low": {"preset": "small"} if args.quick else {},
            "fpd": {},
            "kpd": {},
        },
        "bounds": [
            {"metric": "calo.cls_low.auc", "max": 0.6},
            {"metric": "calo.separation_power", "max": 2e-3},
        ],
    }
    report = validate(model, reference=args.reference, n=args.n, out=out / "report", config=config)
    print(f"validation: {report.status}; report {report.html_path}")
    for row in report.data["metrics"]:
        model_value, floor = row["model"]["value"], (row.get("floor") or {}).get("value")
        print(f"  {row['name']:>24}: model {_num(model_value)}   reference floor {_num(floor)}")
    for b in report.data.get("bounds", []):
        print(f"  bound {b['metric']}: {'pass' if b['passed'] else 'FAIL'} ({b['message']})")

    # the challenge's own evaluation: the model's showers at the reference's energies
    ref = read_challenge(args.reference, args.geometry)
    gen = model.sample(len(ref), {"incident_energies": ref["incident_energies"]}, seed=7)
    generated = write_challenge(out / "generated.hdf5", gen, args.geometry, metadata=False)
    print(
        f"wrote {generated}: {len(gen)} showers, E_tot/E_inc mean "
        f"{np.mean(gen['showers'].sum(1) / gen['incident_energies']):.3f}"
    )
    print(
        "score it with the challenge's code (CaloChallenge/homepage, code/):\n"
        f"  python evaluate.py -i {generated} -r {args.reference} -m all "
        f"-d {sim.geometry.challenge or args.geometry} --output_dir {out / 'evaluate'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
