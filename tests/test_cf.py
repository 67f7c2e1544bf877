from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from nnsim.cf.als import evaluate, fit_als, popularity_model, select_factors, stratified_split
from nnsim.cf.log import (
    aggregate,
    filter_min_counts,
    preprocess,
    read_log,
    to_matrix,
)
from nnsim.cf.simulate import simulate_log
from nnsim.config import as_dict, compose
from nnsim.errors import ConfigError, InputError

_CF = as_dict(compose().cf)
#: Settings from conf/ (the library has no defaults of its own); tests override some.
PRE = {
    "aggregate_how": _CF["aggregate"],
    "event_weights": None,
    "min_user": _CF["min_user_interactions"],
    "min_track": _CF["min_track_interactions"],
    "max_user_quantile": _CF["max_user_quantile"],
}
ALS = {k: _CF[k] for k in ("regularization", "alpha", "iterations", "seed", "deterministic")}
SEL = {
    **{k: v for k, v in ALS.items() if k != "seed"},
    **{k: _CF["select"][k] for k in ("seeds", "test_ratio", "k")},
}


def pre(df, **kw):
    return preprocess(df, **{**PRE, **kw})


def als(m, f, **kw):
    return fit_als(m, f, **{**ALS, **kw})


def sel_factors(m, factors, **kw):
    return select_factors(m, factors, **{**SEL, **kw})


def write(tmp_path, text, name="log.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_log_bad_inputs(tmp_path):
    with pytest.raises(
        InputError,
        match=r"missing column\(s\) value; header found: \['user_id', 'track_id', 'plays'\]",
    ):
        read_log(write(tmp_path, "user_id,track_id,plays\nu,t,1\n"))
    with pytest.raises(InputError, match=r"non-numeric value on line\(s\) 3 \(e\.g\. 'x'\)"):
        read_log(write(tmp_path, "user_id,track_id,value\nu,t,1\nu,t2,x\n"))
    with pytest.raises(InputError, match=r"negative value on line\(s\) 2, 4"):
        read_log(write(tmp_path, "user_id,track_id,value\nu,t,-1\nu,t2,1\nv,t,-3\n"))
    with pytest.raises(InputError, match=r"NaN value on line\(s\) 3"):
        read_log(write(tmp_path, "user_id,track_id,value\nu,t,1\nu,t2,\n"))
    with pytest.raises(InputError, match="not found"):
        read_log(tmp_path / "nope.csv")


def test_string_ids_and_parquet(tmp_path):
    df = pd.DataFrame({"user_id": ["a", "b"], "track_id": ["007", "x-1"], "value": [1, 2]})
    df.to_parquet(tmp_path / "log.parquet")
    got = read_log(tmp_path / "log.parquet")
    assert got["track_id"].tolist() == ["007", "x-1"]  # leading zeros kept
    got = read_log(write(tmp_path, "user_id,track_id,value\n1,007,1\n"))
    assert got["track_id"].tolist() == ["007"]


def _brute_fixpoint(pairs, mu, mt):
    pairs = set(pairs)
    while True:
        users = pd.Series([u for u, _ in pairs]).value_counts()
        tracks = pd.Series([t for _, t in pairs]).value_counts()
        keep = {(u, t) for u, t in pairs if users[u] >= mu and tracks[t] >= mt}
        if keep == pairs:
            return pairs
        pairs = keep
        if not pairs:
            return pairs


def test_filter_reaches_fixed_point_with_cascade():
    # u3 has 2 rows (dropped); that pushes track t9 (only u3 and u1) below 2 -> u1 loses a row.
    rows = [
        ("u1", "t1"),
        ("u1", "t2"),
        ("u1", "t9"),
        ("u2", "t1"),
        ("u2", "t2"),
        ("u3", "t9"),
        ("u3", "t3"),
        ("u4", "t1"),
        ("u4", "t2"),
    ]
    df = pd.DataFrame(rows, columns=["user_id", "track_id"]).assign(value=1.0)
    out, rounds = filter_min_counts(df, 2, 2)
    assert rounds >= 2
    got = set(map(tuple, out[["user_id", "track_id"]].to_numpy()))
    assert got == _brute_fixpoint(rows, 2, 2)
    assert out["user_id"].value_counts().min() >= 2 and out["track_id"].value_counts().min() >= 2
    rng = np.random.default_rng(0)
    rand = list({(f"u{rng.integers(30)}", f"t{rng.integers(40)}") for _ in range(300)})
    df = pd.DataFrame(rand, columns=["user_id", "track_id"]).assign(value=1.0)
    out, _ = filter_min_counts(df, 5, 5)
    assert set(map(tuple, out[["user_id", "track_id"]].to_numpy())) == _brute_fixpoint(rand, 5, 5)


def test_aggregate_and_events():
    df = pd.DataFrame(
        {
            "user_id": ["a", "a", "a", "b"],
            "track_id": ["x", "x", "y", "x"],
            "value": [1.0, 2.0, 1.0, 1.0],
            "event": ["play", "like", "skip", "play"],
        }
    )
    out, rep = pre(
        df,
        event_weights={"play": 1.0, "like": 4.0, "skip": 0.0},
        min_user=1,
        min_track=1,
        max_user_quantile=1.0,
    )
    # (a, x) = 1*1 + 2*4 = 9; (a, y) skip -> 0 -> dropped; (b, x) = 1.
    assert sorted(map(tuple, out.to_numpy().tolist())) == [("a", "x", 9.0), ("b", "x", 1.0)]
    assert rep.frame()["step"].tolist()[:2] == ["read", "aggregate"]
    with pytest.raises(ConfigError, match=r"event type\(s\) \['skip'\] have no weight"):
        pre(df, event_weights={"play": 1.0, "like": 4.0})
    assert aggregate(df, "max")["value"].tolist() == [2.0, 1.0, 1.0]


def test_restrict_to_cb_counts_unmatched_and_empty_errors():
    df = pd.DataFrame(
        {"user_id": ["a"] * 3 + ["b"] * 3, "track_id": ["x", "y", "z"] * 2, "value": 1.0}
    )
    out, rep = pre(df, min_user=1, min_track=1, max_user_quantile=1.0, keep_tracks=["x", "y"])
    assert set(out["track_id"]) == {"x", "y"}
    step = rep.frame().set_index("step").loc["restrict_to_cb"]
    assert step["unmatched_tracks"] == 1 and step["unmatched_rows"] == 2
    with pytest.raises(InputError, match="content-based features"):
        pre(df, min_user=1, min_track=1, max_user_quantile=1.0, keep_tracks=["nope"])
    with pytest.raises(InputError, match="users >= 9"):
        pre(df, min_user=9, min_track=1, max_user_quantile=1.0)


def test_stratified_split_per_user():
    rng = np.random.default_rng(1)
    m = sp.random(50, 80, density=0.2, random_state=1, format="csr")
    m.data[:] = rng.integers(1, 5, m.nnz)
    tr, te = stratified_split(m, test_ratio=0.2, seed=3)
    assert (tr + te - m).nnz == 0 and tr.multiply(te).nnz == 0
    n = np.diff(m.indptr)
    expect = np.minimum(np.round(0.2 * n), np.maximum(n - 1, 0))
    np.testing.assert_array_equal(np.diff(te.indptr), expect)
    _tr2, te2 = stratified_split(m, test_ratio=0.2, seed=3)
    assert (te2 != te).nnz == 0


def _slow_metrics(scores, train, test, k):
    """NDCG/MAP/precision@k by hand (implicit's definitions: binary relevance)."""
    ndcg = ap = prec = 0.0
    users = 0
    for u in range(scores.shape[0]):
        rel = set(test[u].indices)
        if not rel:
            continue
        users += 1
        s = scores[u].astype(float).copy()
        s[train[u].indices] = -np.inf
        ranked = np.argsort(-s, kind="stable")[:k]
        hits = [1.0 if i in rel else 0.0 for i in ranked]
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1.0 / np.log2(r + 2) for r in range(min(k, len(rel))))
        ndcg += dcg / idcg
        prec += sum(hits) / min(k, len(rel))
        acc, run = 0.0, 0
        for r, h in enumerate(hits):
            if h:
                run += 1
                acc += run / (r + 1)
        ap += acc / min(k, len(rel))
    return {"ndcg": ndcg / users, "map": ap / users, "precision": prec / users}


def test_metrics_on_hand_checkable_log():
    # 3 users x 6 items, fixed item scores (popularity model): the rankings are known.
    train = sp.csr_matrix(
        np.array([[1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0]], dtype=np.float32)
    )
    test = sp.csr_matrix(
        np.array([[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 0, 0]], dtype=np.float32)
    )
    model = popularity_model(train)
    item_scores = np.array([6, 5, 4, 3, 2, 1], dtype=np.float32)  # distinct: no tie ambiguity
    model.item_factors = item_scores.reshape(-1, 1)
    got = evaluate(model, train, test, k=2)
    ref = _slow_metrics(np.tile(item_scores, (3, 1)), train, test, 2)
    for m in ("ndcg", "map", "precision"):
        assert got[m] == pytest.approx(ref[m]), m
    # By hand: user 0 ranks (1, 2): one hit at rank 1 of 2 relevant; user 1 ranks (0, 2): none;
    # user 2 ranks (3, 4): its only relevant item first.
    assert ref["precision"] == pytest.approx((1 / 2 + 0 + 1) / 3)
    assert ref["ndcg"] == pytest.approx((1 / (1 + 1 / np.log2(3)) + 0 + 1) / 3)


def test_als_deterministic_and_beats_popularity_on_simulated_log():
    styles = np.repeat(np.arange(5), 30)
    tracks = np.array([f"t{i}" for i in range(styles.size)])
    log_df = simulate_log(tracks, styles, n_users=300, events_per_user=40, seed=0)
    df, _ = pre(
        log_df,
        event_weights={"play": 1.0, "like": 4.0, "skip": 0.0},
        min_user=5,
        min_track=5,
        max_user_quantile=1.0,
    )
    m, _users, items = to_matrix(df)
    a = als(m, 8, seed=4, iterations=5)
    b = als(m, 8, seed=4, iterations=5)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert a.item_factors.shape == (items.size, 8)
    sel = sel_factors(m, [4, 8], seeds=[0], iterations=10)
    summ = sel.summary.set_index("model")
    assert summ.loc["als", "ndcg_mean"].max() > summ.loc["popularity", "ndcg_mean"] + 0.05
    with pytest.raises(InputError, match=r"lower cf\.select\.factors"):
        sel_factors(m, [items.size + 5])
