"""Classifier two-sample test (AUC and JSD), the CaloChallenge's recipe by default.

The CaloChallenge ``evaluate.py`` (cls-low/cls-high), reproduced:

- labels: generated = 0, reference = 1; each class shuffled separately and split
  60/20/20 % into train/test/validation (the ds2/3 split for 10^5 events per class);
- network: Linear(d, 2048), LeakyReLU, then 2 x [Linear(2048, 2048), LeakyReLU,
  Dropout(0)], Linear(2048, 1); BCEWithLogits; Adam, lr 2e-4, batch 1000, 50 epochs;
- the epoch with the best test accuracy is kept; training stops once it reaches 1;
- isotonic calibration (y in [1e-6, 1 - 1e-6], clipped) fitted on the test split;
- on the validation split: AUC of the calibrated probabilities, and
  JSD = (ln 2 - BCE) / ln 2 with the BCE of the calibrated probabilities.

Differences, all options: the features are standardised with the training split's
mean and standard deviation (``standardize``; the CaloChallenge hand-scales its inputs
instead, so a plugin feeding CaloChallenge features sets ``standardize=False``), and the
network runs in float32 (``dtype``; the CaloChallenge sets float64 globally).

Presets name a network and its training; they are registered through the
``register_classifier_presets`` hook (:mod:`surrogate.metrics.hookspecs`), so a domain
registers its community's recipe under its own name.  The core's: ``large`` (the recipe
above, the default) and ``small`` (64 wide, 20 epochs, lr 1e-3, batch 500: quick checks
on a CPU).

Errors: the AUC's is Hanley and McNeil's (1982) standard error, the JSD's the standard
error of the mean per-event log-loss; neither includes the training's randomness.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import PluginError, check_known
from ..registry import get_registry
from .base import MetricError, MetricResult
from .generic import FeatureMetric
from .isotonic import IsotonicRegression

log = logging.getLogger("surrogate.metrics")

#: What a classifier preset sets: every one of these, the network and its training.
PRESET_KEYS = ("hidden", "layers", "epochs", "batch_size", "lr", "dropout")

#: The core's presets (registered in :mod:`surrogate.builtins`).
LARGE: dict[str, Any] = {
    "hidden": 2048,
    "layers": 2,
    "epochs": 50,
    "batch_size": 1000,
    "lr": 2e-4,
    "dropout": 0.0,
}
SMALL: dict[str, Any] = {
    "hidden": 64,
    "layers": 2,
    "epochs": 20,
    "batch_size": 500,
    "lr": 1e-3,
    "dropout": 0.0,
}


def preset(name: str) -> dict[str, Any]:
    """The registered classifier preset ``name``, checked: a plugin's slip in a preset
    fails here, naming the preset and its plugin, not as a ``KeyError`` in the training."""
    registry = get_registry()
    try:
        values = registry.get("classifier_preset", name)
    except PluginError as exc:  # unknown name (with a suggestion), failed import, conflict
        raise MetricError(f"classifier: {exc}") from None
    where = (
        f"classifier preset {name!r} (plugin {registry.entry('classifier_preset', name).plugin})"
    )
    if not isinstance(values, Mapping):
        raise MetricError(f"{where} is a {type(values).__name__}, not a dict")
    check_known(values, PRESET_KEYS, where, noun="setting", error=MetricError)
    missing = [k for k in PRESET_KEYS if k not in values]
    if missing:
        raise MetricError(f"{where} does not set {', '.join(missing)}")
    return dict(values)


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with mid-ranks for ties)."""
    from scipy.stats import rankdata

    labels = np.asarray(labels).astype(bool)
    n1, n0 = int(labels.sum()), int((~labels).sum())
    if n1 == 0 or n0 == 0:
        raise MetricError("AUC needs both classes")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_error(auc: float, n1: int, n0: int) -> float:
    """Hanley-McNeil standard error of an AUC."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return math.sqrt(max(var, 0.0))


def build_network(d: int, hidden: int, layers: int, dropout: float):
    import torch

    mods: list[Any] = [torch.nn.Linear(d, hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    for _ in range(layers):
        mods += [torch.nn.Linear(hidden, hidden), torch.nn.LeakyReLU(), torch.nn.Dropout(dropout)]
    mods.append(torch.nn.Linear(hidden, 1))
    return torch.nn.Sequential(*mods)


def split(n: int, fractions: Sequence[float]) -> list[int]:
    counts = (n * np.asarray(fractions, np.float64)).astype(int)
    return np.cumsum(counts)[:-1].tolist()


def classifier_test(
    reference: np.ndarray,
    generated: np.ndarray,
    *,
    hidden: int = 2048,
    layers: int = 2,
    epochs: int = 50,
    batch_size: int = 1000,
    lr: float = 2e-4,
    dropout: float = 0.0,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    standardize: bool = True,
    dtype: str = "float32",
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train, calibrate and evaluate; returns a dict of numbers (see the module doc)."""
    import torch

    x1 = np.asarray(reference, np.float64)  # label 1
    x0 = np.asarray(generated, np.float64)  # label 0
    if x1.ndim != 2 or x0.ndim != 2 or x1.shape[1] != x0.shape[1]:
        raise MetricError(f"classifier: need (n, d) arrays of equal d, got {x1.shape}, {x0.shape}")
    if min(len(x1), len(x0)) < 10:
        raise MetricError("classifier: needs at least 10 events per sample")
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9 or min(fractions) <= 0:
        raise MetricError("classifier: split fractions must be 3 positive numbers summing to 1")
    rng = np.random.default_rng(seed)
    parts = []
    for x, label in ((x0, 0.0), (x1, 1.0)):
        x = x[rng.permutation(len(x))]
        parts.append([(p, np.full(len(p), label)) for p in np.split(x, split(len(x), fractions))])
    sets = []
    for i in range(3):
        xs = np.concatenate([parts[0][i][0], parts[1][i][0]])
        ys = np.concatenate([parts[0][i][1], parts[1][i][1]])
        perm = rng.permutation(len(xs))
        sets.append((xs[perm], ys[perm]))
    (xtr, ytr), (xte, yte), (xva, yva) = sets
    if standardize:
        mu, sd = xtr.mean(0), xtr.std(0)
        sd[sd == 0] = 1.0
        xtr, xte, xva = ((a - mu) / sd for a in (xtr, xte, xva))

    tdtype = {"float32": torch.float32, "float64": torch.float64}[dtype]
    # a small network gains nothing from CPU threads, and they spin against each other on a
    # busy machine (20 s instead of 0.3 s measured on a loaded 2-core host): use one
    threads = torch.get_num_threads()
    if device == "cpu" and hidden <= 256:
        torch.set_num_threads(1)
    try:
        return _train_and_evaluate(
            torch,
            xtr,
            ytr,
            xte,
            yte,
            xva,
            yva,
            hidden,
            layers,
            epochs,
            batch_size,
            lr,
            dropout,
            tdtype,
            seed,
            device,
        )
    finally:
        torch.set_num_threads(threads)


def _train_and_evaluate(
    torch,
    xtr,
    ytr,
    xte,
    yte,
    xva,
    yva,
    hidden,
    layers,
    epochs,
    batch_size,
    lr,
    dropout,
    tdtype,
    seed,
    device,
) -> dict[str, Any]:
    torch.manual_seed(seed)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    dev = torch.device(device)
    net = build_network(xtr.shape[1], hidden, layers, dropout).to(dev, tdtype)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def tensor(a):
        return torch.as_tensor(a, dtype=tdtype, device=dev)

    Xtr, Ytr, Xte, Xva = tensor(xtr), tensor(ytr), tensor(xte), tensor(xva)

    def predict(X) -> np.ndarray:
        net.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(X), 65536):
                out.append(torch.sigmoid(net(X[s : s + 65536])).reshape(-1))
        return torch.cat(out).double().cpu().numpy()

    best_acc, best_epoch, best_state = -1.0, 0, None
    t0 = time.perf_counter()
    epochs_run = 0
    for epoch in range(int(epochs)):
        net.train()
        perm = torch.randperm(len(Xtr), generator=gen).to(dev)
        for s in range(0, len(Xtr), int(batch_size)):
            idx = perm[s : s + int(batch_size)]
            loss = loss_fn(net(Xtr[idx]).reshape(-1), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epochs_run = epoch + 1
        acc = float(np.mean(np.round(predict(Xte)) == yte))
        log.info("classifier epoch %d/%d: test accuracy %.4f", epoch + 1, epochs, acc)
        if acc > best_acc:
            best_acc, best_epoch = acc, epoch + 1
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if acc == 1.0:
            break
    train_seconds = time.perf_counter() - t0
    if best_state is not None:
        net.load_state_dict(best_state)

    p_test, p_val = predict(Xte), predict(Xva)
    calibrator = IsotonicRegression(y_min=1e-6, y_max=1 - 1e-6).fit(p_test, yte)
    p_cal = np.clip(calibrator.predict(p_val), 1e-6, 1 - 1e-6)
    auc = roc_auc(yva, p_cal)
    per_event = -(yva * np.log(p_cal) + (1 - yva) * np.log(1 - p_cal))
    bce = float(per_event.mean())
    jsd = (math.log(2) - bce) / math.log(2)
    n1, n0 = int(yva.sum()), int(len(yva) - yva.sum())
    return {
        "auc": auc,
        "auc_error": auc_error(auc, n1, n0),
        "jsd": jsd,
        "jsd_error": float(per_event.std(ddof=1) / math.sqrt(len(per_event)) / math.log(2)),
        "auc_uncalibrated": roc_auc(yva, p_val),
        "accuracy": float(np.mean(np.round(p_cal) == yva)),
        "best_test_accuracy": best_acc,
        "best_epoch": best_epoch,
        "epochs_run": epochs_run,
        "n_train": len(ytr),
        "n_test": len(yte),
        "n_val": len(yva),
        "n_features": int(xtr.shape[1]),
        "train_seconds": train_seconds,
        "device": str(dev),
    }


class ClassifierTest(FeatureMetric):
    description = (
        "classifier two-sample test (the CaloChallenge's recipe by default): AUC and "
        "JSD = (ln2 - BCE)/ln2 of isotonic-calibrated predictions on a held-out split"
    )
    results = ("auc", "jsd")
    defaults = {
        "features": "default",
        "preset": "large",
        "hidden": None,
        "layers": None,
        "epochs": None,
        "batch_size": None,
        "lr": None,
        "dropout": None,
        "split": [0.6, 0.2, 0.2],
        "standardize": True,
        "dtype": "float32",
        "max_events": None,
    }

    def settings(self) -> dict[str, Any]:
        """The network and training settings in effect (preset, then explicit options)."""
        out = preset(self.options["preset"])
        for key in out:
            if self.options.get(key) is not None:
                out[key] = self.options[key]
        if self.options["dtype"] not in ("float32", "float64"):
            raise MetricError("classifier: dtype must be float32 or float64")
        return out

    def summary(self) -> str:
        s = self.settings()
        return (
            f"classifier two-sample test, preset {self.options['preset']!r}: "
            f"{s['layers'] + 1} hidden layers of {s['hidden']}, {s['epochs']} epochs, batch "
            f"{s['batch_size']}, lr {s['lr']:g}; features {self.options['features']!r}; AUC and "
            "JSD = (ln2 - BCE)/ln2 of isotonic-calibrated predictions on a held-out split"
        )

    def compute(self, reference, generated, *, seed=0, device="cpu"):
        x, y = self._pair(reference, generated)
        cap = self.options.get("max_events")
        if cap:
            x, y = x[: int(cap)], y[: int(cap)]
        s = self.settings()
        r = classifier_test(
            x,
            y,
            **s,
            fractions=tuple(self.options["split"]),
            standardize=bool(self.options["standardize"]),
            dtype=self.options["dtype"],
            seed=seed,
            device=device,
        )
        details = {k: v for k, v in r.items() if k not in ("auc", "auc_error", "jsd", "jsd_error")}
        details["settings"] = {
            **s,
            "preset": self.options["preset"],
            "dtype": self.options["dtype"],
        }
        return {
            "auc": MetricResult(r["auc"], r["auc_error"], details=details, ideal=0.5),
            "jsd": MetricResult(r["jsd"], r["jsd_error"], details={}, ideal=0.0),
        }
