"""Scale-out: exact tables on a real 2-worker Dask LocalCluster (loopback), approximate tables
with measured recall and S_n error, memory-mapped tables compared block by block."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from distributed.diagnostics.plugin import SchedulerPlugin
from servers import free_port
from synthetic import comparison_settings, synthetic_spaces

from nnsim import similarity
from nnsim.cluster import dask_client
from nnsim.compare import run_comparison
from nnsim.config import compose, dump
from nnsim.errors import ClusterError
from nnsim.report import write_report
from nnsim.search import DaskRun, neighbor_table
from nnsim.search.audit import exact_rows, sample_rows
from nnsim.search.exact import neighbors
from nnsim.search.hnsw import approximate_neighbors
from nnsim.similarity import bootstrap_weights, iter_bootstrap_weights
from nnsim.spaces import Space
from nnsim.stages.common import run_stage
from nnsim.tables import TableStore

CLUSTER = compose().cluster


@pytest.fixture(scope="module")
def client():
    """A real dask.distributed LocalCluster: 2 worker processes, scheduler on 127.0.0.1."""
    with dask_client(CLUSTER) as c:
        assert len(c.scheduler_info()["workers"]) == 2
        assert c.scheduler.address.startswith("tcp://127.0.0.1:")
        yield c


def tricky(n=3000, d=24, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[10] = X[20] = X[30]  # exact ties
    X[40] = X[41] * 3.0  # parallel (cosine tie)
    X[50:60] = np.round(X[50:60])  # near-ties
    return X


@pytest.mark.parametrize("distance", ["cosine", "euclidean"])
def test_exact_tables_on_the_cluster_equal_the_single_machine_engine(client, distance):
    X = tricky()
    want = neighbors(X, 40, distance, max_block_mb=64)
    table = neighbor_table(
        Space("tricky", X),
        replace(compose().neighbors, max_block_mb=0.05, backend="exact"),
        width=40,
        distance=distance,
        dask=DaskRun(client, retries=1),
    )
    got = table.indices, table.distances
    assert table.certificate.exact
    assert got[0].dtype == np.int32 and got[1].dtype == np.float32
    assert np.array_equal(want[0], got[0])
    assert np.array_equal(want[1], got[1])  # bit for bit, distances too


def test_the_comparison_on_the_cluster_is_the_same(client, tmp_path):
    spaces = synthetic_spaces(400, cf_factors=(32,))[:4]
    opts = comparison_settings(compose(["cutoffs=[5,10]", "neighbors.k=10"]))
    a = run_comparison(spaces, **opts, distance="cosine")
    b = run_comparison(spaces, **opts, distance="cosine", dask=DaskRun(client, retries=2))
    assert np.array_equal(a.comparison.similarity, b.comparison.similarity)
    assert np.array_equal(a.comparison.boot, b.comparison.boot)
    for name in a.tables:
        assert np.array_equal(a.tables[name].indices, b.tables[name].indices)


#: What the scheduler plugin saw when it killed a worker (same process as the test).
KILLED: dict[str, int] = {}


class KillAfterFirstBlock(SchedulerPlugin):
    """Kills a worker process when the first block of the search is done: a fixed point
    mid-run, whatever the speed of the machine."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.scheduler = None

    def transition(self, key, start, finish, *args, **kwargs) -> None:
        if finish != "memory" or not str(key).startswith("_rows_task"):
            return
        if "pid" in KILLED:  # blocks finished after the kill: it came mid-run
            KILLED["after"] = KILLED.get("after", 0) + 1
            return
        KILLED["pid"] = self.pid
        os.kill(self.pid, signal.SIGKILL)


def test_a_worker_killed_mid_run_changes_nothing(client):
    X = tricky(6000, 64, seed=1)
    want = neighbors(X, 30, "cosine", max_block_mb=64)
    pids = list(client.run(os.getpid).values())
    KILLED.clear()
    plugin = KillAfterFirstBlock(pids[0])

    def add(dask_scheduler):
        plugin.scheduler = dask_scheduler
        dask_scheduler.add_plugin(plugin, name="kill")

    client.run_on_scheduler(add)
    try:
        t = neighbor_table(  # 2-row blocks: 3,000 tasks
            Space("tricky", X),
            replace(compose().neighbors, max_block_mb=0.05, backend="exact"),
            width=30,
            distance="cosine",
            dask=DaskRun(client, retries=2),
        )
    finally:
        client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.remove_plugin("kill"))
    # killed after the first block, and blocks still finished afterwards: mid-run (counted by
    # the scheduler, not by how many tasks happened to be queued at that moment)
    assert KILLED["pid"] == pids[0] and KILLED.get("after", 0) > 0
    assert np.array_equal(want[0], t.indices)
    assert np.array_equal(want[1], t.distances)
    # the nanny brings a worker back
    client.wait_for_workers(2, timeout=60)


def test_an_unreachable_scheduler_is_a_clear_error_within_the_timeout():
    address = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with (
        pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at {address}"),
        dask_client(replace(CLUSTER, address=address, connect_timeout=2)),
    ):
        pass
    assert time.monotonic() - t0 < 30


def test_a_peer_that_accepts_and_never_answers_is_a_clear_error_not_a_hang():
    """A hung scheduler, a proxy or another service: TCP connects, no Dask handshake comes.
    (Before, the stage waited until the peer closed.)  The listener never closes here."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the TCP handshakes; nobody reads or writes
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        t0 = time.monotonic()
        with (
            pytest.raises(ClusterError, match="accepted the connection but did not answer"),
            dask_client(replace(CLUSTER, address=address, connect_timeout=2)),
        ):
            pass
        assert time.monotonic() - t0 < 60  # bounded by the timeout, not by the peer


def test_the_compare_stage_leaves_no_outputs_when_the_scheduler_is_unreachable(tmp_path, capsys):
    cfg = compose(
        [
            f"paths.results_dir={tmp_path}/results",
            f"paths.neighbors_dir={tmp_path}/neighbors",
            f"paths.metrics_dir={tmp_path}/metrics",
            "mlflow=off",
        ]
    )
    cfg.cluster = replace(
        cfg.cluster, address=f"tcp://127.0.0.1:{free_port()}", connect_timeout=2, neighbors=True
    )
    p = tmp_path / "params.yaml"
    p.write_text(dump(cfg))
    from nnsim.stages.compare import run

    def extra(ap):
        ap.add_argument("--distance", default="cosine")

    assert run_stage(run, "x", ["--params", str(p)], extra=extra) == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*.csv")) and not (tmp_path / "neighbors").exists()


def test_approximate_tables_carry_recall_and_the_error_they_put_into_s_n(tmp_path):
    spaces = synthetic_spaces(1500, cf_factors=(32,))[:3]
    cfg = compose(
        [
            "cutoffs=[5,20]",
            "neighbors.k=20",
            "neighbors.backend=approximate",
            "neighbors.recall_sample=300",
            "neighbors.approximate.ef_search=20",
            "neighbors.approximate.M=4",
            "compare.n_boot=200",
        ]
    )
    res = run_comparison(spaces, **comparison_settings(cfg), distance="cosine")
    exact = run_comparison(
        spaces,
        **comparison_settings(
            compose(
                [
                    "cutoffs=[5,20]",
                    "neighbors.k=20",
                    "neighbors.backend=exact",
                    "compare.n_boot=200",
                ]
            )
        ),
        distance="cosine",
    )
    rows = sample_rows(1500, 300, cfg.compare.seed)
    for s in spaces:  # recall is what it says: approximate vs exact lists on the sample
        ex = exact_rows(s.X, rows, 20, "cosine", s.name)
        approx = res.tables[s.name].indices[rows, :20]
        want = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(approx, ex, strict=True)])
        got = res.recall.query(f"space == '{s.name}' and cutoff == 20")
        assert got["recall"].item() == pytest.approx(want)
        assert got["recall_low"].item() <= want <= got["recall_high"].item()
    assert res.recall["recall"].lt(1).any()  # a coarse graph: the approximation shows
    # the S_n error on the sample, and the true error (all rows) inside a generous band
    err = res.sn_errors.set_index(["src", "dst", "cutoff"])
    for (a, b, c), row in err.iterrows():
        i, j = res.comparison.names.index(a), res.comparison.names.index(b)
        k = list(res.comparison.cutoffs).index(c)
        true = res.comparison.similarity[i, j, k] - exact.comparison.similarity[i, j, k]
        assert row["sn_error_low"] <= row["sn_error"] <= row["sn_error_high"]
        assert abs(true - row["sn_error"]) < 0.05
    files = write_report(res, tmp_path, variables=["dataset", "architecture", "layer"])
    assert {"recall.csv", "sn_error.csv"} <= {f.name for f in files}
    sim = pd.read_csv(tmp_path / "similarity.csv")
    assert sim["sn_error"].notna().all()  # every approximate S_n carries its error


def test_auto_backend_is_exact_below_the_threshold():
    nb = compose(["neighbors.exact_below=1000"]).neighbors
    assert not nb.approximate_for(999) and nb.approximate_for(1000)
    assert not compose(["neighbors.backend=exact"]).neighbors.approximate_for(10**9)


def test_approximate_tables_follow_the_engine_contract():
    X = tricky(800, 16)
    opt = replace(
        compose().neighbors.approximate,
        M=16,
        ef_construction=200,
        ef_search=200,
        threads=2,
        seed=0,
        deterministic=True,
    )
    for distance in ("cosine", "euclidean"):
        idx, dist = approximate_neighbors(X, 10, distance, options=opt)
        assert idx.shape == dist.shape == (800, 10) and idx.dtype == np.int32
        assert not np.any(idx == np.arange(800)[:, None])
        assert np.all(np.diff(dist, axis=1) >= 0)
        ex_i, ex_d = neighbors(X, 10, distance, max_block_mb=16)
        found = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(idx, ex_i, strict=True)])
        assert found > 0.95  # a fine graph finds nearly every exact neighbour
        np.testing.assert_allclose(dist[:, 0], ex_d[:, 0], rtol=1e-3, atol=1e-3)
        again = approximate_neighbors(X, 10, distance, options=opt)
        assert np.array_equal(idx, again[0])  # deterministic build: same tables every run


def test_memory_mapped_tables_compared_block_by_block_give_the_same_numbers(tmp_path, monkeypatch):
    spaces = synthetic_spaces(700, cf_factors=(32,))[:4]
    base = ["cutoffs=[5,10]", "neighbors.k=10", "compare.n_boot=300"]
    whole = run_comparison(spaces, **comparison_settings(compose(base)), distance="cosine")
    # tables straight to .npy memmaps, compared in blocks of ~30 rows, bootstrap in chunks
    monkeypatch.setattr(similarity, "TABLE_BLOCK_MB", 0.003)
    store = TableStore(tmp_path, "cosine")
    mm = run_comparison(
        spaces,
        **comparison_settings(compose([*base, "neighbors.memmap_mb=0"])),
        distance="cosine",
        store=store,
    )
    t = mm.tables[spaces[0].name]
    assert isinstance(t.indices, np.memmap) and not list(tmp_path.glob("*.partial"))
    np.testing.assert_allclose(mm.comparison.similarity, whole.comparison.similarity, atol=1e-12)
    np.testing.assert_allclose(mm.comparison.boot, whole.comparison.boot, atol=1e-6)
    np.testing.assert_allclose(mm.comparison.curves, whole.comparison.curves, atol=1e-12)


def test_bootstrap_weights_in_chunks_are_the_same_stream():
    W = bootstrap_weights(500, 37, seed=3)
    chunks = list(iter_bootstrap_weights(500, 37, 3, max_mb=0.01))
    assert len(chunks) > 1 and np.array_equal(np.concatenate(chunks), W)
