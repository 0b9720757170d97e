"""Progress bars of long work over events (simulating, generating, scoring)."""

from __future__ import annotations

import sys
from typing import Any


def event_bar(total: int, progress: bool | None, **options: Any) -> Any:
    """A tqdm bar counting events; ``progress=None`` shows it when stderr is a terminal,
    so batch-farm logs do not fill with carriage returns."""
    from tqdm.auto import tqdm

    shown = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, unit="ev", disable=not shown, dynamic_ncols=True, **options)
