"""Non-learned baselines: the floor that learned generators must beat."""
