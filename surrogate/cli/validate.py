"""``surrogate validate``: compare a trained model with ground truth and write a report.

Exit status: 0 when every bound passes (or none is set), 3 when a bound fails, 1 on an
error (bad input is reported before any long work), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from typing import TYPE_CHECKING, Any

from ..validation.report import fmt
from .options import add_execution, add_key_value, count, execution_options

if TYPE_CHECKING:
    from ..validation import Report


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="compare a trained model with ground truth; write report.json/.html",
        description="Compare the model in MODEL_DIR with ground truth: fresh events of a "
        "reference simulator (--simulator) or a file of reference events (--reference, HDF5 "
        "or ROOT, at least 2N events), at matching conditions. Every metric is also computed "
        "between two independent reference samples (the floor). Writes report.json, "
        "report.html (self-contained) and plots/ (PNG and PDF) into --out. Exit status: 0 "
        "pass (or no bounds set), 3 a bound of the --config failed, 1 error.",
    )
    p.add_argument("model_dir", metavar="MODEL_DIR", help="directory written by `train`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--simulator", metavar="NAME", help="reference simulator, e.g. toy.gmm2d")
    src.add_argument("--reference", metavar="FILE", help="file of reference events (.h5/.root)")
    add_key_value(
        p,
        "--option",
        "simulator option (default: those recorded in the model's training data)",
    )
    p.add_argument("-n", type=count, required=True, help="events per sample (1e5 accepted)")
    p.add_argument("--out", required=True, help="output directory for the report")
    p.add_argument(
        "--config",
        help="validation config (JSON/YAML: metrics, options, bounds) or a registered "
        "preset: quick (small classifier, fewer bootstraps) or a plugin's (`surrogate "
        "plugins` lists the validation presets)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "cuda"),
        help="device for sampling and the classifier (default: cuda when present)",
    )
    p.add_argument("--seed", type=int, help="seed (default: the config's, else 0)")
    p.add_argument("--batch-size", type=count, help="events per sampling call (default 10000)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    add_execution(p)
    p.add_argument(
        "--subsample",
        type=count,
        help="when sharded (any option above, or N too large for memory): events per sample "
        "that the metrics needing events (classifier, KPD, MMD, a plugin's), the plots and "
        "the report sections see (default 200000); separation power, W1, KS and FPD see "
        "every event through merged statistics",
    )
    p.add_argument(
        "--anomalies",
        metavar="FILE",
        help="a labelled anomaly sample (`surrogate simulate SIM --anomaly NAME`): the report "
        "adds an anomaly section (score distributions, ROC curves, working points)",
    )
    p.add_argument(
        "--anomaly-score",
        metavar="KIND",
        help="the score of the anomaly section (default: the model's first; `surrogate "
        "score MODEL_DIR --list`)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..api import validate
    from ..validation import EXIT_FAILED, ValidationError

    if not args.quiet:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
        )
    if args.option and not args.simulator:
        raise ValidationError("--option applies to --simulator only")
    report = validate(
        args.model_dir,
        n=args.n,
        out=args.out,
        simulator=args.simulator,
        simulator_options=dict(args.option) or None,
        reference=args.reference,
        config=args.config,
        device=args.device,
        seed=args.seed,
        batch_size=args.batch_size,
        subsample=args.subsample,
        anomalies=args.anomalies,
        anomaly_score=args.anomaly_score,
        **execution_options(args),
        command="surrogate validate " + shlex.join(sys.argv[2:])
        if sys.argv[1:2] == ["validate"]
        else None,
    )
    print(_summary(report))
    return EXIT_FAILED if report.status == "fail" else 0


def _summary(report: Report) -> str:
    """The metric table as ``name  model VALUE ± ERROR   floor VALUE ± ERROR``, columns as
    wide as their longest entry, then the failed bounds.  Errors are shown because a
    value alone misleads: 0.02 ± 0.11 is no better than a floor of 0.52 ± 0.44."""
    rows = [
        (row["name"], _value(row["model"]), _value(row["floor"])) for row in report.data["metrics"]
    ]
    width = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    lines = [f"validation {report.status.upper()}: {report.html_path}"]
    lines += [
        f"  {name:<{width[0]}}  model {model:>{width[1]}}   floor {floor:>{width[2]}}"
        for name, model, floor in rows
    ]
    for c in report.data["bounds"]:
        if not c["passed"]:
            target = c["metric"] + (f" [{c['observable']}]" if c["observable"] else "")
            lines.append(f"  FAILED {target}: {c['message']}")
    return "\n".join(lines)


def _value(result: dict[str, Any]) -> str:
    """``value ± error`` as the report prints it (scaled for display: FPD x10^3)."""
    return fmt(result["value"], result["error"], result.get("display_scale", 1.0))
