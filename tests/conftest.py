"""Shared fixtures for the core tests."""

from __future__ import annotations

import pytest

import surrogate
from surrogate.registry import Registry, reset_registry


@pytest.fixture
def fresh_registry():
    """A registry with no plugins, installed as the process-wide one for the test."""
    registry = Registry()
    reset_registry(registry)
    yield registry
    reset_registry(None)


@pytest.fixture
def toy():
    return surrogate.simulator("toy.gmm2d")


@pytest.fixture
def toy_conditional():
    return surrogate.simulator("toy.gmm2d", conditional=True)
