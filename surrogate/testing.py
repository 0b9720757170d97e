"""Conformance checks any simulator or surrogate plugin can run in its own tests.

Each check is a plain function raising ``AssertionError`` with a message; the
``*_checks`` functions return ``(name, check)`` pairs ready for ``pytest.mark.parametrize``
(the pattern of scikit-learn's ``parametrize_with_checks``)::

    from surrogate.testing import simulator_checks

    @pytest.mark.parametrize("name,check", simulator_checks(lambda: MySimulator()))
    def test_conformance(name, check):
        check()

``surrogate_checks`` needs a *trained* model factory; the save/load round trip uses a
temporary directory of its own.  :func:`plugin_registry` runs a block with extra plugin
objects registered beside the installed ones, so a plugin's tests need not install it
(or edit any registry by hand)::

    with plugin_registry(("mydet", my_plugin_module)):
        surrogate.simulator("mydet.showers")
"""

from __future__ import annotations

import contextlib
import functools
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SpecError, SurrogateError
from .events import Events
from .factories import load
from .interfaces import Simulator, Surrogate
from .registry import Registry, build_registry, using_registry
from .spec import EventSpec

Check = Callable[[], None]


def _inside(c_low: float, c_high: float) -> float:
    """A representative condition value inside [low, high] (open ends handled)."""
    lo = c_low if math.isfinite(c_low) else (c_high - 1.0 if math.isfinite(c_high) else -1.0)
    hi = c_high if math.isfinite(c_high) else lo + 2.0
    return lo + 0.37 * (hi - lo)


def fixed_conditions(spec: EventSpec) -> dict[str, float]:
    """One valid value per condition, away from the range ends."""
    return {c.name: _inside(c.low, c.high) for c in spec.conditions}


def assert_events_match_spec(events: Events, spec: EventSpec, n: int) -> None:
    assert isinstance(events, Events), f"sample() returned {type(events).__name__}, not Events"
    assert len(events) == n, f"asked for {n} events, got {len(events)}"
    assert set(events.fields) == set(spec.field_names), (
        f"fields {sorted(events.fields)} != spec {sorted(spec.field_names)}"
    )
    for f in spec.fields:
        arr = events[f.name]
        assert arr.shape == (n, *f.shape), f"field {f.name}: shape {arr.shape} != {(n, *f.shape)}"
        assert arr.dtype == np.dtype(f.dtype), f"field {f.name}: dtype {arr.dtype} != {f.dtype}"
        assert np.isfinite(arr).all(), f"field {f.name}: non-finite values"
        if f.low is not None:
            assert (arr >= f.low).all(), f"field {f.name}: values below {f.low}"
        if f.high is not None:
            assert (arr <= f.high).all(), f"field {f.name}: values above {f.high}"
    for c in spec.conditions:
        assert c.name in events.conditions, f"condition {c.name} missing from the events"
        vals = events.conditions[c.name]
        assert vals.shape == (n,), f"condition {c.name}: shape {vals.shape}"
        assert ((vals >= c.low) & (vals <= c.high)).all(), f"condition {c.name} out of range"


def _assert_same(a: Events, b: Events, what: str) -> None:
    for k in a.fields:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{what}: field {k} differs")


Maker = Callable[[], Simulator | Surrogate]


def _spec(obj: Simulator | Surrogate) -> EventSpec:
    assert obj.spec is not None, f"{obj!r} has no event spec (a model not trained?)"
    return obj.spec


def _spec_honoured(make: Maker, n: int) -> None:
    obj = make()
    assert_events_match_spec(obj.sample(n, seed=1), _spec(obj), n)


def _zero_events(make: Maker, n: int) -> None:
    obj = make()
    assert_events_match_spec(obj.sample(0, seed=1), _spec(obj), 0)


def _same_seed_same_events(make: Maker, n: int) -> None:
    obj = make()
    _assert_same(obj.sample(n, seed=7), obj.sample(n, seed=7), "same seed")
    _assert_same(make().sample(n, seed=7), obj.sample(n, seed=7), "fresh instance, same seed")


def _other_seed_other_events(make: Maker, n: int) -> None:
    obj = make()
    a, b = obj.sample(n, seed=7), obj.sample(n, seed=8)
    assert any(not np.array_equal(a[k], b[k]) for k in a.fields), "seed has no effect"


def _conditions_respected(make: Maker, n: int) -> None:
    obj = make()
    if not _spec(obj).conditions:
        return
    fixed = fixed_conditions(_spec(obj))
    events = obj.sample(n, fixed, seed=3)
    assert_events_match_spec(events, _spec(obj), n)
    for name, value in fixed.items():
        assert np.allclose(events.conditions[name], value), f"condition {name} not applied"
    per_event = {k: np.full(n, v) for k, v in fixed.items()}
    _assert_same(events, obj.sample(n, per_event, seed=3), "scalar vs per-event conditions")
    first = _spec(obj).conditions[0].name
    some = obj.sample(n, {first: fixed[first]}, seed=3)  # the others drawn as the source draws them
    assert np.allclose(some.conditions[first], fixed[first]), f"condition {first} not applied"


def _refused(obj: Simulator | Surrogate, conditions: dict[str, float]) -> SpecError | None:
    try:
        obj.sample(2, conditions, seed=0)
    except SpecError as exc:
        return exc
    return None


def _bad_conditions_refused(make: Maker, n: int) -> None:
    obj = make()
    assert _refused(obj, {"no_such_condition_xyz": 1.0}), "unknown condition accepted"
    for c in _spec(obj).conditions:
        if math.isfinite(c.high):
            exc = _refused(obj, fixed_conditions(_spec(obj)) | {c.name: c.high + abs(c.high) + 1})
            assert exc is not None, f"out-of-range condition {c.name} accepted"
            assert c.name in str(exc), f"error does not name {c.name}: {exc}"


def _sampler_checks(make: Maker, n: int) -> list[tuple[str, Check]]:
    """Checks shared by simulators and surrogates: both answer ``sample``."""
    checks = (
        _spec_honoured,
        _zero_events,
        _same_seed_same_events,
        _other_seed_other_events,
        _conditions_respected,
        _bad_conditions_refused,
    )
    return [(check.__name__.lstrip("_"), functools.partial(check, make, n)) for check in checks]


def simulator_checks(make: Callable[[], Simulator], n: int = 64) -> list[tuple[str, Check]]:
    """Conformance checks for a simulator factory (called afresh by each check)."""

    def is_simulator() -> None:
        obj = make()
        assert isinstance(obj, Simulator), f"{obj!r} is not a surrogate.Simulator"
        assert isinstance(obj.spec, EventSpec), "simulator.spec is not an EventSpec"
        assert isinstance(obj.options, dict), "simulator.options (recorded in files) is not a dict"
        assert repr(obj).startswith("<Simulator"), f"repr {obj!r}"

    return [("is_simulator", is_simulator), *_sampler_checks(make, n)]


def surrogate_checks(make_trained: Callable[[], Surrogate], n: int = 64) -> list[tuple[str, Check]]:
    """Conformance checks for a factory of *trained* models (called afresh by each check;
    cache the training in the factory if it is slow)."""

    def is_surrogate() -> None:
        model = make_trained()
        assert isinstance(model, Surrogate), f"{model!r} is not a surrogate.Surrogate"
        assert model.density in ("exact", "bound", "none"), f"density {model.density!r}"
        assert model.name, "Surrogate.name is empty"

    def save_load_round_trip() -> None:
        model = make_trained()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model"
            model.save(path)
            for loaded in (load(path), type(model).load(path)):
                assert type(loaded) is type(model), f"loaded {type(loaded).__name__}"
                _assert_same(model.sample(n, seed=11), loaded.sample(n, seed=11), "after load")
                if model.density != "none":
                    events = model.sample(n, seed=12)
                    np.testing.assert_allclose(
                        loaded.log_prob(events),
                        model.log_prob(events),
                        rtol=1e-5,
                        atol=1e-5,
                        err_msg="log_prob differs after load",
                    )

    def log_prob_contract() -> None:
        model = make_trained()
        events = model.sample(n, seed=5)
        if model.density == "none":
            try:
                model.log_prob(events)
            except SurrogateError:
                return
            raise AssertionError("density 'none' but log_prob did not raise SurrogateError")
        lp = np.asarray(model.log_prob(events))
        assert lp.shape == (n,), f"log_prob shape {lp.shape} != ({n},)"
        assert np.isfinite(lp).all(), "log_prob of the model's own samples is not finite"

    def wrong_spec_refused() -> None:
        model = make_trained()
        events = model.sample(4, seed=0)
        name = _spec(model).field_names[0]
        bad = Events({**events.fields, name: np.zeros((4, 999))}, events.conditions)
        try:
            model.fit(bad, seed=0)
        except SpecError as exc:
            assert name in str(exc), f"error does not name field {name}: {exc}"
        else:
            raise AssertionError("fit accepted events of the wrong shape")

    return [
        ("is_surrogate", is_surrogate),
        *_sampler_checks(make_trained, n),
        ("save_load_round_trip", save_load_round_trip),
        ("log_prob_contract", log_prob_contract),
        ("wrong_spec_refused", wrong_spec_refused),
    ]


def assert_one_line_error(exc: BaseException) -> None:
    """What a reader may raise on any input, as the fuzz tests state it: the toolkit's own
    error (a :class:`SurrogateError`), with a message of one printable line."""
    assert isinstance(exc, SurrogateError), f"{type(exc).__name__}: {exc}"
    message = str(exc)
    assert message.strip(), "an empty message"
    assert "\n" not in message, f"a message of several lines: {message!r}"
    message.encode("utf-8")  # a terminal can print it (no unpaired surrogate)


def corrupt_bytes(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    """``data`` truncated to the fraction ``cut`` with bytes set at relative positions:
    what a fuzz test of a reader feeds it from a real file (``flips``: (where, value))."""
    out = bytearray(data[: max(1, int(cut * len(data)))])
    for where, value in flips:
        out[int(where * (len(out) - 1))] = value
    return bytes(out)


#: How many inputs a fuzz test of :func:`fuzz_tests` tries, and its slow twin (``-m slow``).
FUZZ_EXAMPLES, FUZZ_EXAMPLES_SLOW = 40, 2000


def corruption_strategies() -> tuple[Any, Any]:
    """Hypothesis strategies for :func:`corrupt_bytes`' ``cut`` and ``flips``: keep a
    leading fraction of a file, then set up to 8 bytes."""
    from hypothesis import strategies as st

    return st.floats(0.0, 1.0), st.lists(
        st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8
    )


def fuzz_tests(
    body: Callable[..., None], *strategies: Any, examples: tuple[tuple[Any, ...], ...] = ()
) -> tuple[Callable[..., None], Callable[..., None]]:
    """A fuzz test and its slow twin from one ``body``: hypothesis draws ``body``'s last
    arguments from ``strategies`` (the others are pytest fixtures), ``FUZZ_EXAMPLES`` times
    plus the explicit ``examples`` (argument tuples: inputs that once failed), and
    ``FUZZ_EXAMPLES_SLOW`` times in the twin, marked ``slow``.  Assign both to ``test_``
    names in a test module::

        test_corrupt_files, test_corrupt_files_long = fuzz_tests(_read_corrupted, *CUTS)
    """
    import pytest
    from hypothesis import HealthCheck, example, given, settings

    def build(n: int) -> Callable[..., None]:
        opts = settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck))
        return opts(given(*strategies)(body))

    quick = build(FUZZ_EXAMPLES)
    for args in examples:
        quick = example(*args)(quick)
    return quick, pytest.mark.slow(build(FUZZ_EXAMPLES_SLOW))


@contextlib.contextmanager
def plugin_registry(*plugins: tuple[str, object]) -> Iterator[Registry]:
    """A fresh registry of the installed plugins plus ``(name, plugin)`` pairs, the
    process-wide one inside the block; the previous one is restored afterwards."""
    with using_registry(build_registry(*plugins)) as registry:
        yield registry


class GaussianEnergy(Simulator):
    """A target with a known energy and normaliser, for testing families trained on an
    energy and code that evaluates one: ``u(x | s) = |x|^2 / (2 s)`` on ``x`` of shape
    ``shape``, a Gaussian of variance ``s`` per element, ``ln Z = (d / 2) ln(2 pi s)``.
    The condition ``scale`` (``s``) ranges over ``[0.5, 2]``; exact samples are drawn."""

    name = "testing.gaussian_energy"

    def __init__(self, shape: tuple[int, ...] = (2,)) -> None:
        from .spec import Condition, Field

        super().__init__(shape=tuple(shape))
        self.spec = EventSpec(
            fields=(Field("x", tuple(shape), "float32"),),
            conditions=(Condition("scale", low=0.5, high=2.0),),
        )
        self.size = math.prod(shape)

    def _sample(self, n, conditions, rng):
        s = conditions["scale"].reshape((n,) + (1,) * len(self.spec.fields[0].shape))
        return {"x": np.sqrt(s) * rng.standard_normal((n, *self.spec.fields[0].shape))}

    def _energy(self, fields, conditions):
        x = fields["x"].reshape(len(fields["x"]), -1)
        return 0.5 * (x**2).sum(1) / conditions["scale"]

    def _log_normalizer(self, conditions):
        return 0.5 * self.size * np.log(2 * math.pi * conditions["scale"])
