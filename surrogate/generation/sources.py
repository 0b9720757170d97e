"""How a worker gets the simulator or model that makes its events, without unpickling
anything that came from a file.

A task carries a :class:`Source`: a registered simulator as its name and factory
options, or a trained model as its directory, which the worker loads itself through the
same safe loader as everyone else (``config.json`` + safetensors).  Only an object that
exists in the caller's memory and nowhere else (a simulator class that is not
registered) travels by pickle, as any Python object sent to a worker does: it was made by
the caller's code, not read from a file.  A model in memory must be saved first: it has
weights a worker could only get by pickle, and the directory is what a colleague can
check.

A recipe made from a live object carries it (``obj``), so the caller's process never
rebuilds what it has and drops it with the recipe; :meth:`Source.portable` strips it
for the workers.  Each worker process builds a source once and keeps it for every later
task (:func:`build`), so a model is loaded once per worker, not once per shard.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..interfaces import Simulator, Surrogate
from .backends import BackendError

_BUILT: dict[Source, Simulator | Surrogate] = {}


@dataclass(frozen=True)
class Source:
    """A recipe for a simulator or a model (see the module docstring)."""

    kind: str  # "simulator" | "model" | "object"
    name: str = ""
    options: str = "{}"  # JSON, so the recipe is hashable and what a file records
    model_dir: str = ""
    obj: Any = field(default=None, compare=False, hash=False)

    @classmethod
    def simulator(cls, name: str, options: dict[str, Any] | None = None) -> Source:
        return cls("simulator", name=name, options=json.dumps(options or {}, sort_keys=True))

    @classmethod
    def model(cls, model_dir: str | os.PathLike[str], loaded: Surrogate | None = None) -> Source:
        """A model directory; ``loaded``: the model this process already loaded from it."""
        return cls("model", model_dir=str(Path(model_dir).resolve()), obj=loaded)

    @classmethod
    def of(cls, obj: Simulator | Surrogate) -> Source:
        """The recipe of a live object: by registered name where it has one."""
        from ..registry import get_registry

        source = None
        if isinstance(obj, Simulator) and obj.name in get_registry().names("simulator"):
            with contextlib.suppress(TypeError):  # options that are not JSON: obj travels
                source = replace(cls.simulator(obj.name, obj.options), obj=obj)
        if source is None:
            source = cls("object", name=getattr(obj, "name", ""), obj=obj)
        return source

    def portable(self) -> Source:
        """This recipe as a worker gets it: the object left behind where the worker can
        build it by name or directory (an unregistered simulator travels itself)."""
        if self.kind == "object" and isinstance(self.obj, Surrogate):
            raise BackendError(
                f"a model in memory ({self.name}) cannot be sent to workers: save it "
                "(model.save(DIR)) and sample from the directory, or use the serial backend"
            )
        return self if self.kind == "object" else replace(self, obj=None)

    def identity(self) -> dict[str, Any]:
        """What identifies the source in a run's shard plan (JSON)."""
        if self.kind == "model":
            return {"model_dir": self.model_dir}
        return {"name": self.name, "options": json.loads(self.options), "kind": self.kind}


def build(source: Source) -> Simulator | Surrogate:
    """The simulator or model ``source`` describes: the object it carries, else built
    once per process."""
    if source.obj is not None:
        return source.obj
    if source not in _BUILT:
        _BUILT[source] = _make(source)
    return _BUILT[source]


def _make(source: Source) -> Simulator | Surrogate:
    from ..factories import load, simulator

    if source.kind == "simulator":
        return simulator(source.name, **json.loads(source.options))
    if source.kind == "model":
        return load(source.model_dir)
    raise BackendError(f"a recipe of kind {source.kind!r} without its object")
