"""Dark-matter density fields: linear theory, initial conditions, a particle-mesh N-body
reference simulator (``cosmo.pm``) with cheap siblings (``cosmo.lpt``,
``cosmo.lognormal``), the field statistics cosmologists trust, and the field
preprocessing a generator trains on.  Everything is registered through
:mod:`surrogate_cosmo.plugin`."""
