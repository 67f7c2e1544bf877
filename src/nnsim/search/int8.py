"""Exact integer tile products: the screen of the exact search's symmetric pass.

The symmetric pass (:func:`nnsim.search.exact.symmetric_table`) only needs, for every pair of
tracks, a score that is certainly *at least* the exact one, to decide which pairs get their
exact float64 distance.  Products of 8-bit integers give that at a third of the cost of a
float32 product: each scaled row ``w`` (norm <= 1) is quantized twice,

- as the left factor: ``w = a q + e`` with ``q`` integers in [-127, 127] (stored as
  ``q + 128`` in uint8, zero point 128), ``a = max|w| / 127``, ``E = ||e||``;
- as the right factor: ``w = b p + f`` with ``p`` in [-127, 127] (int8), ``b = max|w| / 127``,
  ``F = ||f||``,

and ``w_i . w_j = a_i b_j (q_i . p_j) + r`` with ``|r| <= (1 + E_i) F_j + E_i`` (Cauchy-Schwarz
on ``a q = w - e``; every norm <= 1).  The integer product ``q_i . p_j`` must be exact in
int32.  AVX-512 VNNI, AVX-VNNI and ARM's dot-product instructions accumulate in 32 bits, but
AVX2 without VNNI sums pairs of products in 16 bits first (``vpmaddubsw``, saturating), which
only 7-bit right factors keep exact.  So before the first product the kernels onnxruntime
picked on this processor are tried on the worst case (:func:`right_range`): 8 bits if they
are exact there, else 7 bits (``p`` in [-63, 63], ``b = max|w| / 63``, a wider bound).

The products are onnxruntime's ``MatMulInteger`` (its MLAS kernels pick VNNI, AVX2 or NEON
from the processor), one session shared by the tile threads.  What a screen with these
bounds may and may not do is proved in :func:`nnsim.search.exact.symmetric_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache

import numba
import numpy as np

#: Largest magnitude of the left factor's integers (uint8 with zero point 128).
QA = 127


@numba.njit(parallel=True, cache=True)
def _quantize(work, qb, A, B, a, b, E, F):  # type: ignore[no-untyped-def]
    """Fill the two quantizations of every row of ``work`` (see the module docstring);
    ``qb`` is the right factor's largest integer."""
    n, d = work.shape
    for i in numba.prange(n):
        m = 0.0
        for t in range(d):
            m = max(m, abs(np.float64(work[i, t])))
        if m == 0.0:
            a[i] = b[i] = 1.0
            E[i] = F[i] = 0.0
            for t in range(d):
                A[i, t] = 128
                B[i, t] = 0
            continue
        ai = m / QA
        bi = m / qb
        se = 0.0
        sf = 0.0
        for t in range(d):
            x = np.float64(work[i, t])
            q = min(QA, max(-QA, np.rint(x / ai)))
            p = min(qb, max(-qb, np.rint(x / bi)))
            A[i, t] = np.uint8(q + 128)
            B[i, t] = np.int8(p)
            e = x - ai * q
            f = x - bi * p
            se += e * e
            sf += f * f
        a[i] = ai
        b[i] = bi
        E[i] = np.sqrt(se)
        F[i] = np.sqrt(sf)


@dataclass
class Quantized:
    """The two integer copies of a space's scaled rows and their error norms.

    Attributes
    ----------
    A : np.ndarray [shape=(n, d), dtype=uint8]
        Left factors ``q + 128``.
    B : np.ndarray [shape=(n, d), dtype=int8]
        Right factors ``p``.
    blocks : list of np.ndarray [shape=(d, <= tile), dtype=int8]
        Right factors ``p``, transposed, one contiguous block per tile of rows.
    a, b : np.ndarray [shape=(n,), dtype=float64]
        Steps of the left and right factors.
    E, F : np.ndarray [shape=(n,), dtype=float64]
        Norms of their rounding errors.
    """

    A: np.ndarray
    B: np.ndarray
    blocks: list[np.ndarray]
    a: np.ndarray
    b: np.ndarray
    E: np.ndarray
    F: np.ndarray


def quantize(work: np.ndarray, tile: int, right: int | None = None) -> Quantized:
    """Quantize the scaled rows ``work`` (float32, norms <= 1) for tiles of ``tile`` rows.

    ``right`` is the right factor's largest integer (default :func:`right_range`: 127 where
    this processor's kernels are exact with 8 bits, else 63).
    """
    n, d = work.shape
    A = np.empty((n, d), dtype=np.uint8)
    B = np.empty((n, d), dtype=np.int8)
    a, b, E, F = (np.empty(n) for _ in range(4))
    _quantize(work, right or right_range(d), A, B, a, b, E, F)
    blocks = [np.ascontiguousarray(B[s : s + tile].T) for s in range(0, n, tile)]
    return Quantized(A, B, blocks, a, b, E, F)


@lru_cache(maxsize=1)
def _session():  # type: ignore[no-untyped-def]
    """One onnxruntime session of ``MatMulInteger`` (uint8 x int8 -> int32, zero point 128)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    A = helper.make_tensor_value_info("A", TensorProto.UINT8, [None, None])
    B = helper.make_tensor_value_info("B", TensorProto.INT8, [None, None])
    Y = helper.make_tensor_value_info("Y", TensorProto.INT32, [None, None])
    zero = helper.make_tensor("zero", TensorProto.UINT8, [], [128])
    node = helper.make_node("MatMulInteger", ["A", "B", "zero"], ["Y"])
    graph = helper.make_graph([node], "tile_product", [A, B], [Y], initializer=[zero])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # the tile threads are the parallelism
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


@cache
def right_range(d: int) -> int:
    """127 if the tile products are exact with 8-bit right factors of length ``d``, else 63.

    Tried on the worst case for 16-bit pair sums (every left integer 127, stored as 255,
    every right one 127, and alternating signs) in the shapes of real tiles, a last tile of
    one row and a last block of one column included.
    """
    rng = np.random.default_rng(0)
    left = np.full((64, d), 255, dtype=np.uint8)
    left[1::2] = rng.integers(0, 256, size=(32, d), dtype=np.uint8)
    right = np.full((d, 64), 127, dtype=np.int8)
    right[:, 1::2] = rng.choice(np.array([-127, 127], dtype=np.int8), size=(d, 32))
    for a, b in ((left, right), (left[:1], right), (left, right[:, :1]), (left[:1], right[:, :1])):
        want = (a.astype(np.int64) - 128) @ b.astype(np.int64)
        if not np.array_equal(tile_product(np.ascontiguousarray(a), np.ascontiguousarray(b)), want):
            return 63
    return 127


def tile_product(left: np.ndarray, right_block: np.ndarray) -> np.ndarray:
    """``(q_I . p_J)`` exactly, int32 ``(rows of left, columns of right_block)``.

    ``left`` is a slice of :attr:`Quantized.A`, ``right_block`` one of
    :attr:`Quantized.blocks`.  Thread-safe; releases the GIL.
    """
    return _session().run(None, {"A": left, "B": right_block})[0]
