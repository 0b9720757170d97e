"""Generic validation metrics (in progress)."""
