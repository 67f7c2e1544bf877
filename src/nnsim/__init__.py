"""nnsim: how far latent spaces of the same music tracks agree on nearest neighbours.

The public API is imported on first use (PEP 562), so that importing one module of the
package (a stage, the audio extraction) does not import the comparison workflow: a stage
then depends, for DVC, only on the modules it really uses.
"""

import importlib as _importlib
import os as _os
from typing import Any as _Any

# BLAS (matrix products) and numba (selection) alternate on the same cores.  By default
# OpenBLAS and OpenMP worker threads spin after each call and steal the cores from the other
# pool (measured here: kNN 30-40 % slower).  Only effective when nnsim is imported before
# numpy; a value already set by the user wins.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: Public names and the module that defines each.
_API = {
    "DISTANCES": "nnsim.settings",
    "MEASURES": "nnsim.settings",
    "neighbors": "nnsim.search.exact",
    "neighbor_table": "nnsim.search",
    "prepare_spaces": "nnsim.compare",
    "run_comparison": "nnsim.compare",
    "Comparison": "nnsim.similarity",
    "chance_level": "nnsim.similarity",
    "compare_tables": "nnsim.similarity",
    "pair_overlap": "nnsim.similarity",
    "ConfigError": "nnsim.errors",
    "InputError": "nnsim.errors",
    "NnsimError": "nnsim.errors",
    "OutputError": "nnsim.errors",
    "factor_table": "nnsim.factors",
    "Space": "nnsim.spaces",
    "align_spaces": "nnsim.spaces",
    "load_space": "nnsim.spaces",
    "read_space_list": "nnsim.spaces",
    "save_space": "nnsim.spaces",
}
__all__ = sorted(_API)
__version__ = "0.1.0"


def __getattr__(name: str) -> _Any:
    if name in _API:
        return getattr(_importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'nnsim' has no attribute {name!r}")
