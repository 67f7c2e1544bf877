from __future__ import annotations

import numpy as np
import pytest

from nnsim.errors import InputError
from nnsim.spaces import (
    Space,
    align_spaces,
    load_space,
    read_indices,
    read_space_list,
    save_space,
)


def test_save_load_roundtrip(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    s = Space("s", X, np.array(["a", "b", "c", "d"]), {"kind": "cb", "layer": "emb"})
    p = save_space(s, tmp_path / "s.npy")
    back = load_space(p)
    np.testing.assert_array_equal(back.X, X)
    assert back.ids.tolist() == ["a", "b", "c", "d"]
    assert back.meta["layer"] == "emb" and back.name == "s"


def test_alignment_on_shared_ids_reports_drops():
    a = Space("a", np.arange(8, dtype=np.float32).reshape(4, 2), np.array(["1", "2", "3", "4"]))
    b = Space("b", np.arange(6, dtype=np.float32).reshape(3, 2), np.array(["4", "2", "9"]))
    out, dropped = align_spaces([a, b])
    assert out[0].ids.tolist() == out[1].ids.tolist() == ["2", "4"]
    np.testing.assert_array_equal(out[0].X, [[2, 3], [6, 7]])
    np.testing.assert_array_equal(out[1].X, [[2, 3], [0, 1]])
    assert dropped == {"a": 2, "b": 1}


def test_alignment_errors():
    a = Space("a", np.ones((2, 2)), np.array(["1", "2"]))
    b = Space("b", np.ones((2, 2)), np.array(["3", "4"]))
    with pytest.raises(InputError, match="share no track ids"):
        align_spaces([a, b])
    c = Space("c", np.ones((2, 2)))
    with pytest.raises(InputError, match="ids for all spaces or for none"):
        align_spaces([a, c])
    d = Space("d", np.ones((3, 2)))
    with pytest.raises(InputError, match="different numbers of rows"):
        align_spaces([c, d])


def test_bad_arrays_and_ids(tmp_path):
    np.save(tmp_path / "obj.npy", np.array(["a", "b"]))
    with pytest.raises(InputError, match=r"obj\.npy.*numeric"):
        load_space(tmp_path / "obj.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match=r"cube\.npy.*2-D"):
        load_space(tmp_path / "cube.npy")
    X = np.ones((4, 2), dtype=np.float32)
    X[[0, 3], 1] = np.inf
    np.save(tmp_path / "inf.npy", X)
    with pytest.raises(InputError, match=r"inf\.npy: 2 row\(s\).*rows: 0, 3"):
        load_space(tmp_path / "inf.npy")
    np.save(tmp_path / "ok.npy", np.ones((3, 2)))
    (tmp_path / "ok.ids.txt").write_text("a\nb\n")
    with pytest.raises(InputError, match=r"ok\.ids\.txt: 2 track ids for a matrix of 3 rows"):
        load_space(tmp_path / "ok.npy")
    (tmp_path / "ok.ids.txt").write_text("a\nb\na\n")
    with pytest.raises(InputError, match=r"duplicate track id.*a"):
        load_space(tmp_path / "ok.npy")
    with pytest.raises(InputError, match="not found"):
        load_space(tmp_path / "missing.npy")


def test_space_list_format(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    np.save(tmp_path / "y.npy", np.zeros((3, 2)))
    lst = tmp_path / "list.csv"
    lst.write_text("name , file, layer\n  x-emb , x.npy , emb\ny,y.npy,\n")
    spaces = read_space_list(lst, tmp_path)
    assert [s.name for s in spaces] == ["x-emb", "y"]
    assert spaces[0].meta["layer"] == "emb" and "layer" not in spaces[1].meta
    bad = tmp_path / "bad.csv"
    bad.write_text("space,path\nx,x.npy\n")
    msg = r"missing column\(s\) name, file; found header \['space', 'path'\]"
    with pytest.raises(InputError, match=msg):
        read_space_list(bad, tmp_path)
    dup = tmp_path / "dup.csv"
    dup.write_text("name,file\nx,x.npy\nx,y.npy\n")
    with pytest.raises(InputError, match="duplicate space name"):
        read_space_list(dup, tmp_path)
    miss = tmp_path / "miss.csv"
    miss.write_text("name,file\nx,x.npy\nz,z.npy\n")
    with pytest.raises(InputError, match=r"line 3: .*z\.npy"):
        read_space_list(miss, tmp_path)


def test_indices_file(tmp_path):
    p = tmp_path / "small-indices.txt"
    p.write_text("0\n4\n2\n")
    assert read_indices(p, 5).tolist() == [0, 4, 2]
    with pytest.raises(InputError, match="out of range"):
        read_indices(p, 4)
    p.write_text("0\nx\n")
    with pytest.raises(InputError, match="line 2"):
        read_indices(p, 5)
