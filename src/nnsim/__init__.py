"""nnsim: how far latent spaces of the same music tracks agree on nearest neighbours."""

from nnsim.compare import compare_spaces, prepare_spaces
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
    "Comparison",
    "ConfigError",
    "InputError",
    "NnsimError",
    "OutputError",
    "Space",
    "align_spaces",
    "chance_level",
    "compare_spaces",
    "compare_tables",
    "factor_table",
    "load_space",
    "neighbors",
    "pair_overlap",
    "prepare_spaces",
    "read_space_list",
    "save_space",
]
__version__ = "0.1.0"
