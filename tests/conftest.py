"""Shared fixtures for the core tests."""

from __future__ import annotations

import numpy as np
import pytest

import surrogate
from surrogate import hookimpl
from surrogate.anomaly import EventTransform
from surrogate.events import Events
from surrogate.layouts import Layout
from surrogate.registry import Registry, using_registry
from surrogate.testing import plugin_registry


@pytest.fixture
def fresh_registry():
    """A registry with only the core's own plugin, the process-wide one for the test."""
    registry = Registry()
    registry.load_core()
    with using_registry(registry):
        yield registry


@pytest.fixture
def toy():
    return surrogate.simulator("toy.gmm2d")


@pytest.fixture
def toy_conditional():
    return surrogate.simulator("toy.gmm2d", conditional=True)


#: A file layout as a domain plugin declares one: fixed names, conditions stored (N, 1).
COLUMNS = Layout(
    "test.columns",
    "a test layout",
    fields=("hits",),
    conditions=("energy",),
    field_ndim=1,
    condition_shape=(1,),
)


class ColumnsPlugin:
    @hookimpl
    def register_layouts(self, register):
        register(COLUMNS.name, COLUMNS)


@pytest.fixture
def column_layout():
    """The installed plugins plus one registering the layout ``test.columns``."""
    with plugin_registry(("test_columns", ColumnsPlugin())) as registry:
        yield registry


class OffRing(EventTransform):
    """A test anomaly: every event pushed outwards by ``shift`` (times its radius)."""

    name = "test.off_ring"
    description = "events pushed off the ring"

    def __init__(self, shift: float = 0.5) -> None:
        super().__init__(shift=shift)
        self.shift = float(shift)

    def transform(self, events: Events, rng: np.random.Generator) -> Events:
        x = events["x"] * (1 + self.shift)
        return Events({"x": x.astype(np.float32)}, events.conditions, events.spec)


class AnomalyPlugin:
    @hookimpl
    def register_anomalies(self, register):
        register("test.off_ring", OffRing)


@pytest.fixture(scope="module")
def anomaly_registry():
    """The installed plugins plus one registering the anomaly ``test.off_ring``."""
    with plugin_registry(("test_anomalies", AnomalyPlugin())) as registry:
        yield registry
