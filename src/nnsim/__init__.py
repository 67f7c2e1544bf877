"""nnsim: how far latent spaces of the same music tracks agree on nearest neighbours."""

import os as _os

# BLAS (matrix products) and numba (selection) alternate on the same cores.  By default
# OpenBLAS and OpenMP worker threads spin after each call and steal the cores from the other
# pool (measured here: kNN 30-40 % slower).  Only effective when nnsim is imported before
# numpy; a value already set by the user wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from nnsim.compare import CompareOptions, prepare_spaces, run_comparison
from nnsim.errors import ConfigError, InputError, NnsimError, OutputError
from nnsim.factors import factor_table
from nnsim.neighbors import VALID_DISTANCES, neighbors
from nnsim.similarity import (
    Comparison,
    chance_level,
    compare_tables,
    pair_overlap,
)
from nnsim.spaces import Space, align_spaces, load_space, read_space_list, save_space

__all__ = [
    "VALID_DISTANCES",
    "CompareOptions",
    "Comparison",
    "ConfigError",
    "InputError",
    "NnsimError",
    "OutputError",
    "Space",
    "align_spaces",
    "chance_level",
    "compare_tables",
    "factor_table",
    "load_space",
    "neighbors",
    "pair_overlap",
    "prepare_spaces",
    "read_space_list",
    "run_comparison",
    "save_space",
]
__version__ = "0.1.0"
