"""Model directories: ``config.json`` + ``model.safetensors`` + ``README.md`` (model card).

The diffusers layout: hyper-parameters and provenance are readable JSON, weights are
safetensors (no pickle, so loading a downloaded model cannot run code), and the config
records the weights' SHA-256 so a swapped or truncated file is caught before use.

Every file is written to a temporary name and renamed.  A new directory appears only when
complete; re-saving into an existing one replaces the files one by one with the config
last, so an interrupted re-save is caught by the checksum instead of loading mismatched
weights.  Other files in the directory (training logs, plots) are left alone.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._version import __version__
from .errors import CheckpointError
from .io.atomic import atomic_path, write_text_atomic
from .jsonutil import to_json
from .schemas import validate
from .spec import EventSpec

if TYPE_CHECKING:
    from .interfaces import Surrogate

FORMAT = "surrogate-model"
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
CARD = "README.md"


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
    }


def model_card(config: dict[str, Any]) -> str:
    """A human-readable README.md: what the model is, what it was trained on, where it is valid."""
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
    ]
    metrics = config.get("metrics") or {}
    lines += [f"- {k}: {v}" for k, v in metrics.items()] or [
        "Not yet validated: run `surrogate validate` on this directory."
    ]
    lines += ["", "Load with `surrogate.load(path)`; weights are safetensors (no pickle).", ""]
    return "\n".join(lines)


def save_model(model: Surrogate, path: Path) -> Path:
    """Write ``model`` to the directory ``path`` (see the module docstring)."""
    from safetensors.numpy import save_file

    # np.ascontiguousarray would turn 0-d arrays into shape (1,): keep shapes as they are
    state = {k: np.asarray(v, order="C") for k, v in model._state().items()}
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


def read_config(path: Path) -> dict[str, Any]:
    """The checked ``config.json`` of a model directory."""
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a model directory")
    cfg_path = path / CONFIG
    if not cfg_path.is_file():
        raise CheckpointError(f"{path}: missing {CONFIG} (not a model directory, or incomplete)")
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
    weights = path / config["weights"]["file"]
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
    model = cls(spec=EventSpec.from_dict(config["spec"]), **config["hyperparameters"])
    model.provenance = config.get("provenance", {})
    model.metrics = config.get("metrics", {})
    try:
        model._load_state(state)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: weights do not fit the model config ({exc})") from exc
    return model
