"""Entry point (hooks are added as the plugin grows)."""

from surrogate import hookimpl  # noqa: F401
