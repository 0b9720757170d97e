"""A ``calo.gflash`` simulator for a new detector: the geometry file beside this module.

Importing this module imports the calorimeter plugin; ``plugin.py`` names it as
``"surrogate_example_detector.calo:shashlik"`` so listing plugins does not.
"""

from pathlib import Path

from surrogate_calo import gflash_for

#: GFlash showers in ``shashlik.yaml``'s detector; every ``calo.gflash`` option
#: (``particle``, ``parity``, ``stochastic``...) stays available to the caller.
shashlik = gflash_for(Path(__file__).with_name("shashlik.yaml"))
