"""Entry point of the generic metrics (hooks are added as they are written)."""

from surrogate import hookimpl  # noqa: F401
