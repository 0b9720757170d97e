"""Toy simulators: small problems with known answers, for demos and tests."""
