"""Model directories: ``config.json`` + ``model.safetensors`` + ``README.md`` (model card).

The diffusers layout: hyper-parameters and provenance are readable JSON, weights are
safetensors (no pickle, so loading a downloaded model cannot run code), and the config
records the weights' SHA-256 so a swapped or truncated file is caught before use.

Every file is written to a temporary name and renamed.  A new directory appears only when
complete; re-saving into an existing one replaces the files one by one with the config
last, so an interrupted re-save is caught by the checksum instead of loading mismatched
weights.  Other files in the directory (training logs, plots) are left alone.
:func:`write_metrics` rewrites the config and the card only (a validation's results), so
the weights and their checksum stay as they are.

The safetensors file holds the plugin's state and, under the reserved prefix
:data:`CORE_STATE` (refused in a plugin's keys), what the toolkit records for every
family: the training conditions (:mod:`surrogate.trained_conditions`), binary and covered
by the checksum; ``config.json`` describes them (``training_conditions``) for the card.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .errors import CheckpointError, SurrogateError
from .formatting import fmt, scale_label
from .io.atomic import atomic_path, write_text_atomic
from .jsonutil import to_json
from .schemas import validate
from .spec import EventSpec
from .trained_conditions import TrainedConditions

if TYPE_CHECKING:
    from .interfaces import Surrogate

FORMAT = "surrogate-model"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"
#: the largest config.json read (real ones are kilobytes)
MAX_CONFIG_BYTES = 16 * 2**20
#: Prefix of the state keys the toolkit stores beside a plugin's.
CORE_STATE = "__surrogate__."
_CONDITIONS = CORE_STATE + "conditions."


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _major(version: str) -> str:
    return str(version).split(".")[0]


def model_config(model: Surrogate, weights_sha256: str) -> dict[str, Any]:
    spec = model._require_spec()
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "plugin": model.name,
        "plugin_version": str(model.version),
        "class": f"{type(model).__module__}:{type(model).__qualname__}",
        "toolkit_version": __version__,
        "density": model.density,
        "hyperparameters": to_json(model.hyperparameters),
        "spec": spec.to_dict(),
        "provenance": to_json(model.provenance),
        "metrics": to_json(model.metrics),
        "weights": {"file": WEIGHTS, "sha256": weights_sha256},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    } | (
        {}
        if model.trained_conditions is None
        else {"training_conditions": model.trained_conditions.summary()}
    )


def model_card(config: dict[str, Any]) -> str:
    """A human-readable README.md: what the model is, what it was trained on, where it is
    valid, which conditions it draws when none are given, and how it validated."""
    spec = EventSpec.from_dict(config["spec"])
    prov = config.get("provenance", {})
    lines = [
        f"# {config['plugin']} surrogate",
        "",
        f"Generator family `{config['plugin']}` (plugin version {config['plugin_version']}), "
        f"written by surrogate {config.get('toolkit_version', '?')} "
        f"on {config.get('created', '?')}.",
        f"Density: {config.get('density', 'none')} (`exact`: log_prob is the model's "
        "log-density; `bound`: a lower bound; `none`: no density).",
        "",
        "## Training data",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in prov.items()] or ["- unknown"]
    lines += ["", "## Events", "", "| field | shape | dtype | unit |", "|---|---|---|---|"]
    lines += [f"| {f.name} | {f.shape} | {f.dtype} | {f.unit or '-'} |" for f in spec.fields]
    lines += ["", "## Valid range of conditions", ""]
    if spec.conditions:
        lines += ["| condition | low | high | unit |", "|---|---|---|---|"]
        lines += [
            f"| {c.name} | {c.low:g} | {c.high:g} | {c.unit or '-'} |" for c in spec.conditions
        ]
        lines += ["", "The model refuses conditions outside this range: it was not trained there."]
        lines += _default_conditions_card(spec, config.get("training_conditions"))
    else:
        lines += ["Unconditional model."]
    lines += [
        "",
        "## Hyper-parameters",
        "",
        "```json",
        json.dumps(config["hyperparameters"], indent=2, sort_keys=True),
        "```",
        "",
        "## Metrics",
        "",
        *_metrics_card(config.get("metrics") or {}),
        "",
        "Load with `surrogate.load(path)`; weights are safetensors (no pickle).",
        "",
    ]
    return "\n".join(lines)


def _default_conditions_card(spec: EventSpec, record: dict[str, Any] | None) -> list[str]:
    """The card's section on the conditions ``sample`` draws when none are given."""
    lines = ["", "## Conditions when none are given", ""]
    if record is None:
        priors = "; ".join(
            f"{c.name}: {c.prior} over [{c.low:g}, {c.high:g}]" for c in spec.conditions
        )
        return [
            *lines,
            "This model records no distribution of its training conditions (saved before "
            "they were recorded, or never fitted): conditions not given are drawn from the "
            f"priors of its event spec ({priors}).",
        ]
    names, n_events, rows = record["conditions"], record["n_events"], record["rows"]
    if record["kind"] == "exact":
        values = record["values"]
        shown = f" (the {len(values)} most common)" if rows > len(values) else ""
        lines += [
            f"Drawn from the training data's own conditions: its {n_events} events take "
            f"{rows} distinct value{'s' * (rows != 1)}, drawn with their shares{shown}:",
            "",
            "| " + " | ".join(names) + " | share | events |",
            "|" + "---|" * (len(names) + 2),
        ]
        lines += [
            "| " + " | ".join(f"{x:g}" for x in v["values"]) + f" | {v['share']:.2%} | "
            f"{v['events']} |"
            for v in values
        ]
        lines += [
            "",
            "Conditions given are kept; the others are drawn from the training values "
            "recorded with them (from all values where none matches).",
        ]
        return lines
    lines += [
        f"Drawn from the training sample's distribution: a uniform random subsample of "
        f"{rows} of its {n_events} events' conditions, resampled. The subsample's range:",
        "",
        "| condition | min | max |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {lo:g} | {hi:g} |" for name, (lo, hi) in record["range"].items()]
    lines += [
        "",
        "Conditions given are kept; the others are drawn from the subsample's marginal, "
        "independently of the given ones.",
    ]
    return lines


def _metrics_card(metrics: dict[str, Any]) -> list[str]:
    """The card's metric table (the last validation) and any other metrics recorded."""
    other = [f"- {k}: {v}" for k, v in metrics.items() if k != "validation"]
    run = metrics.get("validation")
    if run is None:
        return other or ["Not yet validated: run `surrogate validate` on this directory."]
    ref = run["reference"]
    if ref["kind"] == "simulator":
        source = f"simulator `{ref['simulator']}` (options `{json.dumps(ref.get('options', {}))}`)"
    else:
        source = f"reference file `{ref['file']}` (producer {ref.get('producer') or 'unknown'})"
    lines = [
        f"Validated on {run['created']} by surrogate {run['toolkit_version']} against "
        f"{source}, n = {run['n']} events per sample, config `{run['config']}`, seed "
        f"{run['seed']}: **{run['status']}**. The floor is the metric between two "
        "independent reference samples: the model matches the reference as well as it can "
        "be told when its value is within the errors of the floor.",
        "",
        "| metric | model | floor | ideal | bound |",
        "|---|---|---|---|---|",
    ]
    for row in run["metrics"]:
        scale = row.get("display_scale", 1.0)
        unit = scale_label(scale)
        bound = {True: "pass", False: "fail", None: "-"}[row.get("passed")]
        lines.append(
            f"| {row['name']}{unit} | {fmt(row['value'], row['error'], scale)} | "
            f"{fmt(row['floor'], row['floor_error'], scale)} | "
            f"{fmt(row['ideal'], None, scale)} | {bound} |"
        )
    lines += ["", f"Report: `{run['report']}`.", *other]
    return lines


def save_model(model: Surrogate, path: Path) -> Path:
    """Write ``model`` to the directory ``path`` (see the module docstring)."""
    from safetensors.numpy import save_file

    state = _weights_state(model)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"{path} exists and is not a directory")
    if path.is_dir() and not (path / CONFIG).is_file():
        for name in (WEIGHTS, CARD):
            if (path / name).exists():
                raise CheckpointError(
                    f"{path / name} exists and is not part of a model: not overwriting it"
                )

    def write_all(folder: Path) -> None:
        with atomic_path(folder / WEIGHTS) as tmp:
            save_file(state, str(tmp), metadata={"plugin": model.name, "format": FORMAT})
        config = model_config(model, _sha256(folder / WEIGHTS))
        errors = validate(config, "model-config")
        if errors:
            raise CheckpointError("model config does not match its schema: " + "; ".join(errors))
        write_text_atomic(folder / CARD, model_card(config))
        write_text_atomic(folder / CONFIG, json.dumps(config, indent=2) + "\n")

    if path.is_dir():
        write_all(path)
    else:
        with atomic_path(path, directory=True) as tmp:
            write_all(tmp)
    return path


def _weights_state(model: Surrogate) -> dict[str, np.ndarray]:
    """The plugin's state and the toolkit's record of the training conditions, as the
    safetensors file stores them."""
    state = dict(model._state())
    reserved = sorted(k for k in state if k.startswith(CORE_STATE))
    if reserved:
        raise CheckpointError(
            f"model {model.name!r}: state key {reserved[0]!r} starts with {CORE_STATE!r}, "
            "the prefix the toolkit reserves for its own arrays"
        )
    if model.trained_conditions is not None:
        state |= {_CONDITIONS + k: v for k, v in model.trained_conditions.state().items()}
    # np.ascontiguousarray would turn 0-d arrays into shape (1,): keep shapes as they are
    return {k: np.asarray(v, order="C") for k, v in state.items()}


def write_metrics(path: Path, metrics: dict[str, Any], *, weights_sha256: str | None) -> None:
    """Record ``metrics`` (merged into ``config.json``'s, key by key) in the model
    directory ``path`` and re-render its card; the weights are not touched, so their
    checksum still holds.  ``weights_sha256``: the weights the metrics were measured on;
    a directory whose config names others (re-saved meanwhile) is refused.

    Each file is replaced atomically, the card first and the config last, as
    :func:`save_model` does.
    """
    config = read_config(path)
    if weights_sha256 is not None and config["weights"]["sha256"] != weights_sha256:
        raise CheckpointError(
            f"{path}: the model was re-saved after it was loaded; its metrics are not "
            "recorded (they describe the previous weights)"
        )
    config["metrics"] = {**config.get("metrics", {}), **to_json(metrics)}
    errors = validate(config, "model-config")
    if errors:
        raise CheckpointError("model metrics do not match the config schema: " + "; ".join(errors))
    write_text_atomic(path / CARD, model_card(config))
    write_text_atomic(path / CONFIG, json.dumps(config, indent=2) + "\n")


def contained(
    directory: Path, file: Path, what: str, *, error: type[SurrogateError] = CheckpointError
) -> Path:
    """``file``, refused when it is a link that leads out of ``directory``.

    A model directory is something colleagues send each other; a link in it to
    ``~/.ssh/...`` or to another model's weights would make a load read what the directory
    does not hold.  Links between files inside the directory are fine.
    """
    if file.is_symlink() and not file.resolve().is_relative_to(directory.resolve()):
        raise error(f"{directory}: {file.name} is a link out of the {what} ({file.readlink()})")
    return file


def read_config(path: Path) -> dict[str, Any]:
    """The checked ``config.json`` of a model directory (at most ``MAX_CONFIG_BYTES``: a
    config is kilobytes, and a huge one would be read whole before it is refused)."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model directory")
    cfg_path = contained(path, path / CONFIG, "model directory")
    if not cfg_path.is_file():
        raise CheckpointError(f"{path}: missing {CONFIG} (not a model directory, or incomplete)")
    size = cfg_path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise CheckpointError(
            f"{cfg_path}: {CONFIG} is {size} bytes, more than a model config can be "
            f"({MAX_CONFIG_BYTES})"
        )
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cfg_path}: not valid JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path}: not a surrogate model config")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{cfg_path}: format version {config['format_version']} is newer than this "
            f"toolkit reads ({FORMAT_VERSION}); upgrade surrogate"
        )
    errors = validate(config, "model-config")
    if errors:
        raise CheckpointError(f"{cfg_path}: invalid config: " + "; ".join(errors))
    return config


def load_model(path: Path, cls: type[Surrogate]) -> Surrogate:
    """Load a model directory into the family ``cls``; refuses another plugin's checkpoint,
    an incompatible plugin version and weights that do not match the config's checksum."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    config = read_config(path)
    plugin = config["plugin"]
    if cls.name != plugin:
        raise CheckpointError(
            f"{path} is a checkpoint of plugin {plugin!r}, not {cls.name or cls.__name__!r}: "
            "load it with surrogate.load()"
        )
    if _major(config["plugin_version"]) != _major(cls.version):
        raise CheckpointError(
            f"{path} was written by {plugin!r} version {config['plugin_version']}, "
            f"incompatible with the installed version {cls.version}"
        )
    weights = contained(path, path / config["weights"]["file"], "model directory")
    if not weights.is_file():
        raise CheckpointError(f"{path}: missing weights file {weights.name}")
    if _sha256(weights) != config["weights"]["sha256"]:
        raise CheckpointError(
            f"{weights}: checksum does not match config.json (file modified, truncated, "
            "or an interrupted save)"
        )
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights}: unreadable safetensors file ({exc})") from exc
    spec = EventSpec.from_dict(config["spec"])
    model = cls(spec=spec, **config["hyperparameters"])
    model.provenance = config.get("provenance", {})
    model.metrics = config.get("metrics", {})
    conditions = {k[len(_CONDITIONS) :]: v for k, v in state.items() if k.startswith(_CONDITIONS)}
    if conditions:  # a model saved before they were recorded has none: it uses the priors
        model.trained_conditions = TrainedConditions.from_state(conditions, spec)
    try:
        model._load_state({k: v for k, v in state.items() if not k.startswith(CORE_STATE)})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the model config ({exc})") from exc
    return model
