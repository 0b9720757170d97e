"""Shared fixtures for the core tests."""

from __future__ import annotations

import pytest

import surrogate
from surrogate import hookimpl
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
