"""The CaloChallenge file format (:mod:`.challenge`), Geant4 ROOT ntuples (:mod:`.root`)
and CaloGAN files (:mod:`.calogan`), read into and written from showers of a geometry.

The challenge's layout, ``surrogate_calo.io:CHALLENGE_LAYOUT``, is what the plugin
registers as the ``calochallenge`` file layout.
"""

from .calogan import read_calogan, write_calogan
from .challenge import (
    CHALLENGE_LAYOUT,
    CLASSIFIER_EVENTS,
    challenge_spec,
    inspect_challenge_file,
    open_challenge,
    read_challenge,
    write_challenge,
)
from .root import read_root, voxel_branch_names

__all__ = [
    "CHALLENGE_LAYOUT",
    "CLASSIFIER_EVENTS",
    "challenge_spec",
    "inspect_challenge_file",
    "open_challenge",
    "read_calogan",
    "read_challenge",
    "read_root",
    "voxel_branch_names",
    "write_calogan",
    "write_challenge",
]
