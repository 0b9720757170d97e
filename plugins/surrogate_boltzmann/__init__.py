"""Boltzmann systems: target energies, reference samplers and the estimators of Boltzmann
generators (Noé et al., Science 365, eaaw1147, 2019).  See README.md."""
