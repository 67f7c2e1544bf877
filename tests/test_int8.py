"""The symmetric pass's integer screen: exact products, sound bounds, both factor ranges."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest
from reference import exact_rows

from nnsim.search.exact import (
    _MARGIN,
    ExactEngine,
    _scan_tile,
    _select,
    _sort,
    row_block_table,
    symmetric_table,
)
from nnsim.search.int8 import quantize, right_range, tile_product

MB = 256.0


def _scaled_rows(n: int, d: int, distance: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, d)) * rng.uniform(0.1, 10, size=d)).astype(np.float32)
    return ExactEngine.prepare(X, 5, distance, "q").work


def test_tile_products_are_exact_integers():
    work = _scaled_rows(300, 37, "cosine", seed=1)
    for right in (127, 63):
        qz = quantize(work, 128, right)
        assert np.abs(qz.B).max() <= right
        left = qz.A[100:228]
        got = tile_product(left, qz.blocks[1])
        want = (left.astype(np.int64) - 128) @ qz.B[128:256].T.astype(np.int64)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want)


def test_right_range_is_what_the_kernels_keep_exact():
    # The worst case for 16-bit pair sums, checked here independently of right_range.
    d = 64
    left = np.full((8, d), 255, dtype=np.uint8)
    right = np.full((d, 8), 127, dtype=np.int8)
    exact8 = np.array_equal(tile_product(left, right), (left.astype(np.int64) - 128) @ right)
    assert right_range(d) == (127 if exact8 else 63)
    # 7-bit right factors are exact on every kernel (2 * 255 * 63 < 2^15).
    right7 = np.full((d, 8), 63, dtype=np.int8)
    np.testing.assert_array_equal(
        tile_product(left, right7), (left.astype(np.int64) - 128) @ right7.astype(np.int64)
    )


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("right", [127, 63])
def test_quantization_bound_holds_for_every_pair(distance, right):
    # |w_i . w_j - a_i b_j (q_i . p_j)| <= E_i N + (N + E_i) F_j, the bound the screen uses,
    # checked against float64 products of every pair; and it is not vacuous.
    work = _scaled_rows(400, 23, distance, seed=2)
    qz = quantize(work, 512, right)
    P = tile_product(qz.A, qz.blocks[0]).astype(np.float64)
    W = work.astype(np.float64)
    N = float(np.sqrt((W**2).sum(axis=1)).max())
    err = np.abs(W @ W.T - qz.a[:, None] * qz.b[None, :] * P)
    bound = qz.E[:, None] * N + (N + qz.E[:, None]) * qz.F[None, :]
    assert np.all(err <= bound)
    assert 0.01 < (err / bound).max() <= 1.0
    assert bound.max() < (0.1 if right == 127 else 0.2)


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
@pytest.mark.parametrize("right", [127, 63])
def test_symmetric_pass_on_clustered_data_equals_the_float32_pass(distance, right):
    # Clustered data (many candidates within the screen's bound of the k-th), n large
    # enough for sampled floors; the symmetric pass against the independent row-block pass
    # (float32 products, float64 re-ranking, certificate) and against float64 by brute force.
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((30, 12)) * 2
    X = (centres[rng.integers(0, 30, 17000)] + rng.standard_normal((17000, 12))).astype(np.float32)
    engine = ExactEngine.prepare(X, 60, distance, "clusters")
    ref = row_block_table(engine, 64.0, show_progress=False, out=None)
    got = symmetric_table(engine, MB, show_progress=False, out=None, right=right)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    rows = rng.choice(17000, 30, replace=False)
    np.testing.assert_array_equal(got[0][rows], exact_rows(X, rows, 60, distance))


def test_tile_scan_is_compiled_without_reference_counting():
    # The scan's inlined offers must not incref/decref the shared arrays (atomics the tile
    # threads fight over).  A copy compiled afresh with the kernel's own options (the cached
    # kernel keeps no IR to look at); only the scan's own body is checked: the module also
    # holds its callees (the selection, once per full buffer) when they were compiled too.
    X = np.random.default_rng(6).standard_normal((5000, 8)).astype(np.float32)
    symmetric_table(ExactEngine.prepare(X, 10, "cosine", "s"), MB, show_progress=False, out=None)
    sig = _scan_tile.signatures[0]
    options = {k: v for k, v in _scan_tile.targetoptions.items() if k != "nopython"}
    fresh = numba.njit(**options)(_scan_tile.py_func)
    fresh.compile(sig)
    bodies = fresh.inspect_llvm(sig).split("\ndefine ")[1:]
    names = [re.search(r"@([\w.$]+)\(", body.split("\n", 1)[0]) for body in bodies]
    scan = [
        body
        for body, name in zip(bodies, names, strict=True)
        if name and name[1].startswith("_ZN5nnsim6search5exact10_scan_tile")
    ]
    assert len(scan) == 1
    assert "NRT_incref" not in scan[0] and "NRT_decref" not in scan[0]


def test_threshold_margin_covers_the_float32_rows():
    # The margin of the thresholds covers the difference between scores of the float32
    # scaled rows and of the float64 ones (< 1e-6 for rows of norm <= 1).
    rng = np.random.default_rng(4)
    X = rng.standard_normal((500, 40)).astype(np.float32)
    engine = ExactEngine.prepare(X, 5, "cosine", "m")
    U = X.astype(np.float64) / np.linalg.norm(X.astype(np.float64), axis=1, keepdims=True)
    W = engine.work.astype(np.float64)
    assert np.abs(U @ U.T - W @ W.T).max() < _MARGIN / 4


@numba.njit
def _sort_rows(h, sizes):  # type: ignore[no-untyped-def]
    m = h.shape[1]
    for r in range(h.shape[0]):
        _sort(h[r], sizes[r], np.empty((m, 2)), np.empty(m), np.empty(m, np.uint64),
              np.empty(256, np.int64))  # fmt: skip


@numba.njit
def _select_rows(h, size, k):  # type: ignore[no-untyped-def]
    m = h.shape[1]
    for r in range(h.shape[0]):
        _select(h[r], size, k, np.empty(m), np.empty(m), np.empty(256, np.int64))


def _distances(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    if kind == "ties":  # zeros, subnormal-range, huge and many ties (selection by index)
        return rng.choice([0.0, 0.25, 1e-300, 3.5, 7.0, 1e300], size=shape) * rng.integers(
            1, 3, size=shape
        )
    if kind == "spread":  # distinct distances (the radix selection's own path)
        return rng.random(shape) * 0.3 + 0.4
    if kind == "close":  # equal high halves (the sort's fallback to all 64 bits)
        return 0.5 + rng.random(shape) * 1e-9
    # across the whole range, with some ties
    return rng.choice([0.0, 1e-300, 0.25, 3.5, 1e300], size=shape) * rng.integers(1, 4, shape) / 3


@pytest.mark.parametrize("kind", ["ties", "spread", "close", "wide"])
def test_radix_sort_and_select_give_table_order(kind: str):
    rng = np.random.default_rng(5)
    n, m = 200, 120
    h = np.empty((n, m, 2))
    h[:, :, 0] = _distances(kind, rng, (n, m))
    h[:, :, 1] = [rng.permutation(10_000)[:m] for _ in range(n)]
    sizes = rng.integers(1, m + 1, size=n)
    want = [
        h[r, : sizes[r]][np.lexsort((h[r, : sizes[r], 1], h[r, : sizes[r], 0]))] for r in range(n)
    ]
    got = h.copy()
    _sort_rows(got, sizes)
    for r in range(n):
        np.testing.assert_array_equal(got[r, : sizes[r]], want[r])
    k = 37
    sel = h.copy()
    _select_rows(sel, m, k)
    for r in range(n):
        full = h[r][np.lexsort((h[r, :, 1], h[r, :, 0]))]
        first = sel[r, :k][np.lexsort((sel[r, :k, 1], sel[r, :k, 0]))]
        np.testing.assert_array_equal(first, full[:k])
        np.testing.assert_array_equal(sel[r, k - 1], full[k - 1])
