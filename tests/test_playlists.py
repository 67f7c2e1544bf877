"""Playlist selection for the listening test: known answers on small constructed inputs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nnsim.errors import ConfigError
from nnsim.listening.playlists import far_apart, most_dissimilar, playlists
from nnsim.search.exact import neighbors


def test_most_dissimilar_matches_an_exhaustive_greedy_check():
    rng = np.random.default_rng(0)
    m = 7
    A = rng.random((m, m))
    S = (A + A.T) / 2
    np.fill_diagonal(S, 1.0)
    names = [f"s{i}" for i in range(m)]
    got = most_dissimilar(S, names, 4)
    # first pair: the global minimum
    pairs = {(a, b): S[a, b] for a, b in itertools.combinations(range(m), 2)}
    a, b = min(pairs, key=pairs.get)
    assert set(got[:2]) == {names[a], names[b]}
    chosen = [a, b]
    for _ in range(2):  # independent slow greedy
        best = min(
            (c for c in range(m) if c not in chosen),
            key=lambda c: sum(S[c, x] for x in chosen) / len(chosen),
        )
        chosen.append(best)
    assert got == [names[c] for c in sorted(chosen[:2])] + [names[c] for c in chosen[2:]]
    with pytest.raises(ConfigError, match="cannot choose 9 spaces out of 7"):
        most_dissimilar(S, names, 9)


def test_far_apart_picks_one_per_cluster_and_respects_groups():
    rng = np.random.default_rng(1)
    centres = np.eye(4) * 10
    X = np.repeat(centres, 25, axis=0) + rng.standard_normal((100, 4)) * 0.1
    refs = far_apart(X, 4, seed=3)
    assert sorted(r // 25 for r in refs) == [0, 1, 2, 3]  # one reference per cluster
    groups = np.array(["a", "b"] * 50)
    refs_g = far_apart(X, 2, seed=3, groups=groups)
    assert groups[refs_g[0]] != groups[refs_g[1]]


def test_playlists_are_the_neighbour_lists_in_order():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 5)).astype(np.float32)
    Y = rng.standard_normal((30, 5)).astype(np.float32)
    ids = np.array([f"t{i}" for i in range(30)])
    tx, _ = neighbors(X, 5, "cosine", max_block_mb=1)
    ty, _ = neighbors(Y, 5, "cosine", max_block_mb=1)
    study = playlists({"x": tx, "y": ty}, ids, [4, 9], 4)
    assert list(study) == ["t4", "t9"]
    assert study["t4"]["x"] == [f"t{j}" for j in tx[4, :4]]
    assert study["t9"]["y"] == [f"t{j}" for j in ty[9, :4]]
    assert all("t4" not in pl for pl in study["t4"].values())  # the reference is never listed
    with pytest.raises(ConfigError, match="at least 6 columns"):
        playlists({"x": tx}, ids, [0], 6)


def test_listening_settings_are_checked_by_the_stage_not_by_every_command():
    from nnsim.config import compose

    cfg = compose(["cutoffs=[5,20]"])  # composing other cutoffs is fine
    with pytest.raises(ConfigError, match=r"listening\.cutoff=10 is not one of cutoffs=\[5, 20\]"):
        cfg.listening.check_against(cfg.cutoffs, cfg.neighbors)  # what the stage runs first
    ok = compose()
    ok.listening.check_against(ok.cutoffs, ok.neighbors)
    bad = compose(["listening.playlist_length=60"])
    with pytest.raises(ConfigError, match=r"playlist_length=60 exceeds neighbors\.k=50"):
        bad.listening.check_against(bad.cutoffs, bad.neighbors)


def test_reference_groups_name_a_missing_column_or_file_and_never_fall_back(tmp_path):
    from nnsim.config import compose
    from nnsim.errors import InputError
    from nnsim.stages.playlists import reference_groups

    meta = tmp_path / "tracks.csv"
    meta.write_text("track_id,style\na,pad\nb,drums\nc,pad\n")
    ids = np.array(["c", "a", "x"])

    def cfg(*over):
        return compose([f"data.tracks={meta}", *over])

    got = reference_groups(cfg("listening.group_by=style"), ids)
    assert got.tolist() == ["pad", "pad", ""]  # in the order of ids; unknown ids in no group
    with pytest.raises(InputError, match=r"group_by='genre' needs the columns track_id and genre"):
        reference_groups(cfg("listening.group_by=genre"), ids)
    with pytest.raises(InputError, match=r"file not found .*listening.group_by=null"):
        reference_groups(cfg(f"data.tracks={tmp_path / 'nope.csv'}"), ids)
    assert reference_groups(cfg("listening.group_by=null"), ids) is None
    assert reference_groups(compose(["data.tracks=null"]), ids) is None


def test_playlist_agreement_is_the_per_reference_s_n_with_the_other_spaces():
    import numpy as np

    from nnsim.listening.playlists import playlist_agreement

    rng = np.random.default_rng(4)
    tables = {s: np.stack([rng.permutation(20)[:6] for _ in range(20)]) for s in "abc"}
    ids = np.array([f"t{i}" for i in range(20)])
    got = playlist_agreement(tables, [3, 7], ids, 4)
    for ref in (3, 7):
        for s in "abc":
            others = [o for o in "abc" if o != s]
            want = sum(
                len(set(tables[s][ref, :4].tolist()) & set(tables[o][ref, :4].tolist())) / 4
                for o in others
            ) / len(others)
            assert got[f"t{ref}"][s] == want
