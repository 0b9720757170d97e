"""The detector's material and a ``calo.gflash`` simulator for it.

Importing this module imports the calorimeter plugin; ``plugin.py`` names what it
registers from here by import path (``"surrogate_example_detector.calo:shashlik"``), so
listing plugins does not.
"""

from surrogate_calo import compound, gflash_for

#: The scintillator of ``shashlik.yaml``: polystyrene, PDG values (density g/cm^3, mass
#: fractions, X0 in g/cm^2).  Registered as ``Polystyrene``, the name it must carry.
POLYSTYRENE = compound("Polystyrene", 1.060, {"C": 0.922579, "H": 0.077421}, x0=43.79)

#: GFlash showers in the ``example_shashlik`` geometry (registered by ``plugin.py``); every
#: ``calo.gflash`` option (``particle``, ``parity``, ``stochastic``...) stays available.
shashlik = gflash_for("example_shashlik")
