"""Event specs refuse bad events and conditions with errors that name the field."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from surrogate import Condition, Events, EventSpec, Field, SpecError
from surrogate.schemas import validate

SPEC = EventSpec(
    fields=(Field("hits", (3, 2), "float32", "MeV", low=0.0), Field("time", (), "float64", "ns")),
    conditions=(Condition("energy", "GeV", 1.0, 100.0, prior="loguniform"),),
)


def good(n=4):
    return {"hits": np.ones((n, 3, 2)), "time": np.zeros(n)}


def test_good_events_are_cast_to_the_spec_dtype():
    ev = Events.checked(good(), {"energy": 10.0}, SPEC)
    assert ev["hits"].dtype == np.float32 and ev["time"].dtype == np.float64
    assert np.array_equal(ev["energy"], np.full(4, 10.0))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"hits": np.ones((4, 3)), "time": np.zeros(4)}, "field 'hits' has shape"),
        ({"hits": np.ones((4, 3, 2)), "time": np.zeros((4, 1))}, "field 'time' has shape"),
        ({"hits": np.ones((4, 3, 2))}, "missing field 'time'"),
        ({**good(), "hitz": np.ones(4)}, "unknown field 'hitz'"),
        ({"hits": np.full((4, 3, 2), "a"), "time": np.zeros(4)}, "field 'hits' has dtype"),
        ({"hits": np.ones((4, 3, 2)) * 1j, "time": np.zeros(4)}, "field 'hits' has dtype"),
        ({"hits": np.full((4, 3, 2), np.nan), "time": np.zeros(4)}, "'hits' has NaN or Inf"),
        ({"hits": np.ones((4, 3, 2)), "time": np.array([0, 0, np.inf, 0])}, "event 2"),
        ({"hits": -np.ones((4, 3, 2)), "time": np.zeros(4)}, "'hits' has values below 0"),
        ({"hits": np.ones((4, 3, 2)), "time": np.zeros(5)}, "'time' has 5 events"),
        (
            {
                "hits": np.where(np.arange(24).reshape(4, 3, 2) == 13, 1e300, 1.0),
                "time": np.zeros(4),
            },
            r"'hits' has values beyond the range of float32 \(first in event 2\)",
        ),
    ],
)
def test_bad_fields_are_named(fields, message):
    with pytest.raises(SpecError, match=message):
        SPEC.check_fields(fields)


@pytest.mark.parametrize(
    "conditions, message",
    [
        ({}, "missing condition 'energy'"),
        ({"energy": 10, "enrgy": 3}, "unknown condition 'enrgy' \\(did you mean 'energy'"),
        ({"energy": 1000.0}, "'energy' has values above 100"),
        ({"energy": 0.5}, "'energy' has values below 1"),
        ({"energy": np.ones(3)}, "'energy' has shape \\(3,\\)"),
        ({"energy": float("nan")}, "'energy' has NaN"),
        ({"energy": "ten"}, "'energy' is not numeric"),
    ],
)
def test_bad_conditions_are_named(conditions, message):
    with pytest.raises(SpecError, match=message):
        SPEC.check_conditions(conditions, 4)


def test_conditions_drawn_from_priors_stay_in_range():
    rng = np.random.default_rng(0)
    drawn = SPEC.resolve_conditions(20000, None, rng)["energy"]
    assert drawn.min() >= 1 and drawn.max() <= 100
    # log-uniform: log10 E is uniform on [0, 2], so its mean is 1 (sd of mean ~ 0.004)
    assert abs(np.log10(drawn).mean() - 1.0) < 0.02


def test_open_range_condition_cannot_be_drawn():
    spec = EventSpec((Field("x"),), (Condition("c"),))
    with pytest.raises(SpecError, match="'c' has an open range"):
        spec.resolve_conditions(3, None, np.random.default_rng(0))


def test_json_round_trip_and_schema():
    data = json.loads(json.dumps(SPEC.to_dict()))
    assert validate(data, "event-spec") == []
    assert EventSpec.from_dict(data) == SPEC
    open_spec = EventSpec((Field("x"),), (Condition("c"),))
    assert (
        EventSpec.from_dict(json.loads(json.dumps(open_spec.to_dict()))).conditions[0].high
        == math.inf
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fields": ()}, "at least one field"),
        ({"fields": (Field("a"), Field("a"))}, "names used twice"),
        ({"fields": (Field("a"),), "layout": "weird"}, "unknown layout 'weird'"),
        ({"fields": (Field("a", (3,)),), "layout": "test.columns"}, "test.columns layout needs"),
    ],
)
def test_malformed_specs(kwargs, message, column_layout):
    with pytest.raises(SpecError, match=message):
        EventSpec(**kwargs)


def test_malformed_parts():
    with pytest.raises(SpecError, match="positive"):
        Field("a", (0,))
    with pytest.raises(SpecError, match="low 5.0 > high 1.0"):
        Condition("c", low=5, high=1)
    with pytest.raises(SpecError, match="log-uniform prior needs low > 0"):
        Condition("c", low=0, high=1, prior="loguniform")


def test_conditions_not_given_are_drawn_from_their_priors():
    spec = EventSpec(
        (Field("x"),),
        (Condition("energy", low=1, high=100), Condition("angle", low=-1, high=1)),
    )
    rng = np.random.default_rng(0)
    conds = spec.resolve_conditions(1000, {"energy": 50.0}, rng)
    assert (conds["energy"] == 50.0).all()
    assert conds["angle"].min() >= -1 and conds["angle"].max() <= 1 and conds["angle"].std() > 0.5
    with pytest.raises(SpecError, match="missing condition 'angle'"):
        spec.check_conditions({"energy": 50.0}, 3)
    with pytest.raises(SpecError, match="unknown condition 'energi'"):
        spec.resolve_conditions(3, {"energi": 50.0}, rng)


def test_flatten_and_unflatten_invert_each_other():
    spec = EventSpec((Field("a", (2, 3)), Field("b"), Field("c", (4,))))
    rng = np.random.default_rng(1)
    fields = {
        "a": rng.normal(size=(5, 2, 3)),
        "b": rng.normal(size=5),
        "c": rng.normal(size=(5, 4)),
    }
    flat = spec.flatten(fields)
    assert flat.shape == (5, spec.event_size) == (5, 11)
    np.testing.assert_array_equal(flat[:, 6], fields["b"])
    back = spec.unflatten(flat)
    for k, v in fields.items():
        np.testing.assert_array_equal(back[k], v)
    with pytest.raises(SpecError, match=r"expected a flat matrix \(n, 11\)"):
        spec.unflatten(flat[:, :3])


def test_difference_names_what_differs():
    a = EventSpec((Field("x", (2,)),), (Condition("r"),))
    b = EventSpec((Field("x", (3,)), Field("y")), ())
    assert a.difference(b) == [
        "field 'x': shape (2,) vs shape (3,)",
        "field 'y': absent vs shape ()",
        "conditions: ['r'] vs []",
    ]
    assert a.difference(a) == []
