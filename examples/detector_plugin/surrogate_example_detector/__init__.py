"""Example third-party surrogate plugin: a layered calorimeter simulator."""
