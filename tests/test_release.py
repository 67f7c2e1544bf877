"""LatentJam import/export, the deterministic bundle and the Zenodo upload (fake server)."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import pytest
from fake_zenodo import FakeZenodo

from nnsim.errors import ConfigError, InputError, NnsimError
from nnsim.release.bundle import ReleaseInfo, archive_bytes, build_files, write_bundle
from nnsim.release.latentjam import latentjam_name, parse_name, read_latentjam
from nnsim.release.zenodo import ZenodoClient, ZenodoError, read_token, upload_bundle
from nnsim.spaces import Space

NAMES = [
    "cb-msd-musicnn-embeddings",
    "cb-mtat-vgg-taggrams",
    "cb-audioset-vggish-embeddings",
    "cf-96",
    "my-own-space",
]


def latentjam_folder(root, n=40, seed=0, n_small=12, names=tuple(NAMES)):
    """A small LatentJam-style folder made here (the real one is a Zenodo download)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids = [f"track_{i:07d}" for i in rng.choice(10**6, n, replace=False)]
    (root / "large-jamendo-ids.txt").write_text("\n".join(ids) + "\n")
    for i, name in enumerate(names):
        np.save(root / f"{name}.npy", rng.standard_normal((n, 8 + i)).astype(np.float32))
    small = sorted(rng.choice(n, n_small, replace=False).tolist())
    (root / "small-indices.txt").write_text("\n".join(map(str, small)) + "\n")
    (root / "small-jamendo-ids.txt").write_text("\n".join(ids[i] for i in small) + "\n")
    return ids, small


def info(**kw):
    base = dict(
        title="LatentJam-style spaces",
        version="0.1.0",
        creators=[{"name": "Doe, Jane"}],
        description="Spaces made by nnsim.",
        keywords=["music", "embeddings"],
        code_url="https://example.org/nnsim",
        related=[
            {
                "relation": "references",
                "scheme": "url",
                "identifier": "https://zenodo.org/record/6010468",
            }
        ],
        synthetic=True,
        git_revision="abc123",
        settings={"cutoffs": [5, 10]},
    )
    base.update(kw)
    return ReleaseInfo(**base)


def test_names_parse_into_metadata():
    assert parse_name("cb-msd-musicnn-embeddings") == {
        "kind": "cb",
        "dataset": "msd",
        "architecture": "musicnn",
        "layer": "embeddings",
    }
    assert parse_name("cf-96") == {"kind": "cf", "factors": 96}
    assert parse_name("my-own-space") == {"kind": "unknown"}
    s = Space(
        "x",
        np.eye(3),
        meta={"kind": "cb", "dataset": "mtat", "architecture": "vgg", "layer": "taggrams"},
    )
    assert latentjam_name(s) == "cb-mtat-vgg-taggrams"


def test_import_reads_every_space_with_ids_and_subset(tmp_path):
    ids, small = latentjam_folder(tmp_path / "lj")
    lj = read_latentjam(tmp_path / "lj")
    assert sorted(s.name for s in lj.spaces) == sorted(NAMES)
    assert list(lj.ids) == ids and list(lj.small_indices) == small
    by = {s.name: s for s in lj.spaces}
    assert by["cf-96"].meta["kind"] == "cf" and by["my-own-space"].meta["kind"] == "unknown"
    np.testing.assert_array_equal(by["cf-96"].X, np.load(tmp_path / "lj" / "cf-96.npy"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda r: np.save(r / "cf-96.npy", np.zeros((39, 4), np.float32)),
            r"cf-96\.npy: 39 rows but large-jamendo-ids\.txt lists 40",
        ),
        (
            lambda r: (r / "small-indices.txt").write_text("3\n\n40\n"),
            r"small-indices\.txt: index\(es\) out of range for 40 rows on line\(s\) 3",
        ),
        (
            lambda r: (r / "large-jamendo-ids.txt").write_text(
                (r / "large-jamendo-ids.txt")
                .read_text()
                .replace(
                    (r / "large-jamendo-ids.txt").read_text().split()[5],
                    (r / "large-jamendo-ids.txt").read_text().split()[2],
                )
            ),
            r"large-jamendo-ids\.txt: duplicate track id\(s\) .* on lines 3, 6",
        ),
        (
            lambda r: (r / "small-jamendo-ids.txt").write_text("nope\n"),
            r"small-jamendo-ids\.txt: does not match small-indices\.txt",
        ),
        (lambda r: (r / "cf-96.npy").write_bytes(b""), r"cf-96\.npy: not a \.npy file \(an empty"),
        (lambda r: (r / "x.npy").mkdir(), r"x\.npy: is a folder, not a space"),
        (
            lambda r: (r / "gone.npy").symlink_to(r / "nowhere.npy"),
            r"gone\.npy: a broken symbolic link \(to .*nowhere\.npy\)",
        ),
        (
            lambda r: (
                np.savez(r / "z.npz", a=np.zeros((40, 3))) or (r / "z.npz").rename(r / "z.npy")
            ),
            r"z\.npy: not a \.npy file \(a zip archive \(an \.npz renamed\?\)\)",
        ),
        (
            lambda r: (r / "t.npy").write_text("0.1 0.2\n0.3 0.4\n"),
            r"t\.npy: not a \.npy file \(a text file\)\. Save each space",
        ),
        (
            lambda r: np.save(r / "flat.npy", np.zeros(40, np.float32)),
            r"flat\.npy: a 1-D array of shape \(40,\); a space is 2-D",
        ),
        (
            lambda r: np.save(r / "cube.npy", np.zeros((40, 2, 3), np.float32)),
            r"cube\.npy: a 3-D array of shape \(40, 2, 3\)",
        ),
        (  # an upper-case suffix is read, not skipped: here it has too few rows
            lambda r: np.save((r / "UP.NPY").open("wb"), np.zeros((3, 2), np.float32)),
            r"UP\.NPY: 3 rows but large-jamendo-ids\.txt lists 40",
        ),
    ],
    ids=[
        "rows-vs-ids",
        "index-out-of-range",
        "duplicate-ids",
        "small-ids",
        "empty-npy",
        "folder-named-npy",
        "broken-symlink",
        "npz-renamed",
        "text-file",
        "1-d",
        "3-d",
        "upper-case-suffix",
    ],
)
def test_inconsistent_folders_name_the_file(tmp_path, damage, message):
    latentjam_folder(tmp_path / "lj")
    damage(tmp_path / "lj")
    with pytest.raises(InputError, match=message):
        read_latentjam(tmp_path / "lj")


def test_export_is_deterministic_and_round_trips(tmp_path):
    latentjam_folder(tmp_path / "lj")
    lj = read_latentjam(tmp_path / "lj")
    files = build_files(
        lj.spaces,
        info(),
        small_indices=lj.small_indices,
        license_id="ISC",
        license_text="ISC licence text",
    )
    a = write_bundle(files, tmp_path / "out1", "release-0.1.0.tar.gz")
    b = write_bundle(
        build_files(
            lj.spaces,
            info(),
            small_indices=lj.small_indices,
            license_id="ISC",
            license_text="ISC licence text",
        ),
        tmp_path / "out2",
        "release-0.1.0.tar.gz",
    )
    assert a.read_bytes() == b.read_bytes()  # byte-identical archive
    assert archive_bytes(files, "x") == archive_bytes(dict(reversed(files.items())), "x")
    for f in ("manifest.csv", "README.md", "LICENSE.txt", "CITATION.cff", ".zenodo.json"):
        assert (tmp_path / "out1" / f).is_file()
    readme = (tmp_path / "out1" / "README.md").read_text()
    assert "SYNTHETIC" in readme and "abc123" in readme
    manifest = (tmp_path / "out1" / "manifest.csv").read_text().splitlines()
    row = next(r for r in manifest if r.startswith("cf-96.npy"))
    assert hashlib.sha256((tmp_path / "out1" / "cf-96.npy").read_bytes()).hexdigest() in row
    again = read_latentjam(tmp_path / "out1")  # export -> import is lossless
    for s in lj.spaces:
        t = next(x for x in again.spaces if x.name == latentjam_name(s))
        np.testing.assert_array_equal(t.X, s.X)
        assert list(t.ids) == list(s.ids)
    assert list(again.small_indices) == list(lj.small_indices)


def test_export_refuses_spaces_with_other_ids_and_nothing(tmp_path):
    a = Space("a", np.eye(3), np.array(["x", "y", "z"]), {"kind": "unknown"})
    b = Space("b", np.eye(3), np.array(["x", "y", "w"]), {"kind": "unknown"})
    with pytest.raises(InputError, match=r"b: its track ids differ from a's .*release\.align"):
        build_files([a, b], info(), license_id="ISC", license_text="t")
    with pytest.raises(InputError, match="no spaces to export"):
        build_files([], info(), license_id="ISC", license_text="t")


def _bundle(tmp_path):
    latentjam_folder(tmp_path / "lj")
    lj = read_latentjam(tmp_path / "lj")
    files = build_files(
        lj.spaces, info(), small_indices=lj.small_indices, license_id="ISC", license_text="t"
    )
    write_bundle(files, tmp_path / "rel", "release.tar.gz")
    return tmp_path / "rel", sorted(files)


def test_upload_resumes_after_a_failure_without_duplicating(tmp_path, caplog):
    folder, names = _bundle(tmp_path)
    meta = {"upload_type": "dataset", "title": "t"}
    with FakeZenodo() as z, caplog.at_level(logging.DEBUG):
        client = ZenodoClient(z.url, z.token, retries=2, backoff=0.01, timeout=5)
        z.fail[names[3]] = 10  # the server keeps failing on the 4th file: the run stops
        z.drop.add(names[1])  # and the 2nd upload loses its connection once (retried)
        with pytest.raises(ZenodoError, match=r"failed 3 times \(HTTP 503\).*resume"):
            upload_bundle(client, folder, names, meta, state_file=tmp_path / "s.json")
        assert len(z.buckets["b1"]) == 3
        z.fail.clear()
        # resume: same deposition
        res = upload_bundle(client, folder, names, meta, state_file=tmp_path / "s.json")
        assert res["deposition_id"] == 1 and len(z.depositions) == 1
        assert sorted(res["skipped"]) == sorted(names[:3])
        assert sorted(z.buckets["b1"]) == sorted(names)
        stored = {n: z.buckets["b1"][n] for n in names}
        assert all(stored[n] == (folder / n).read_bytes() for n in names)
        assert z.puts.count(names[0]) == 1  # never uploaded twice once it was there
        assert z.puts.count(names[1]) == 2  # the dropped connection was retried
        assert not res["published"]
        assert z.token not in caplog.text


def test_publish_needs_the_flag_and_a_confirmation_and_4xx_shows_zenodos_message(tmp_path):
    folder, names = _bundle(tmp_path)
    with FakeZenodo() as z:
        client = ZenodoClient(z.url, z.token, retries=0, backoff=0.01, timeout=5)
        meta = {"upload_type": "dataset", "title": "t"}
        st = tmp_path / "state.json"
        res = upload_bundle(
            client, folder, names, meta, state_file=st, publish=True, confirm=lambda d: False
        )
        assert not res["published"] and not z.depositions[1]["submitted"]
        res = upload_bundle(
            client, folder, names, meta, state_file=st, publish=True, confirm=lambda d: True
        )
        assert res["published"] and z.depositions[1]["submitted"]
        with pytest.raises(
            ZenodoError, match=r"HTTP 400: Validation error\. \(metadata\.upload_type"
        ):
            client.set_metadata(1, {"upload_type": "poster"})
        bad = ZenodoClient(z.url, "wrong", retries=0, backoff=0.01, timeout=5)
        with pytest.raises(ZenodoError, match="HTTP 401: The server could not verify") as exc:
            bad.create()
        assert "wrong" not in str(exc.value) and "wrong" not in repr(bad)


def test_missing_token_says_how_to_set_it(monkeypatch, tmp_path):
    monkeypatch.delenv("ZENODO_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"set the environment variable ZENODO_TOKEN"):
        read_token("ZENODO_TOKEN", str(tmp_path / "missing"))
    (tmp_path / "tok").write_text("abc\n")
    assert read_token("ZENODO_TOKEN", str(tmp_path / "tok")) == "abc"


def _params(tmp_path, url, *over):
    """params.yaml as `make params OVERRIDES=...` writes it, naming this Zenodo server."""
    from nnsim.config import compose, dump

    p = tmp_path / "params.yaml"
    cfg = compose(
        [
            f"release.zenodo.base_url={url}",
            f"release.zenodo.state_dir={tmp_path}/zenodo-state",
            "release.archive=release.tar.gz",
            "release.zenodo.retries=0",
            *over,
        ]
    )
    p.write_text(dump(cfg))
    return p


def test_cli_upload_sends_the_exported_bundle(tmp_path, monkeypatch, capsys):
    """The upload reads params.yaml (a sandbox address set through `make params` is used),
    says where it writes before writing, and resumes after `dvc repro export` rebuilt the
    bundle: the state lives outside it, keyed by the archive's sha256."""
    import shutil

    from nnsim.cli import main

    folder, names = _bundle(tmp_path)
    with FakeZenodo() as z:
        monkeypatch.setenv("ZENODO_TOKEN", z.token)
        params = _params(tmp_path, z.url)
        up = ["release", "upload", "--params", str(params), "--dir", str(folder)]
        assert main(up) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"uploading {folder} (archive sha256 ")
        assert f"to {z.url} (release.zenodo.base_url in {params})" in out
        everything = sorted([*names, "release.tar.gz"])  # the files and the archive
        assert f"deposition 1 on {z.url}: uploaded {len(everything)} file(s)" in out
        assert "not published" in out and z.token not in out
        assert sorted(z.buckets["b1"]) == everything
        # `dvc repro export` deletes and rebuilds the folder: same bytes, same deposition
        keep = {n: (folder / n).read_bytes() for n in everything}
        shutil.rmtree(folder)
        folder.mkdir()
        for n, data in keep.items():
            (folder / n).write_bytes(data)
        monkeypatch.setattr("builtins.input", lambda prompt: "1")  # types the id to confirm
        assert main([*up, "--publish"]) == 0
        assert f"uploaded 0 file(s), {len(everything)} already there" in capsys.readouterr().out
        assert z.depositions[1]["submitted"] and len(z.depositions) == 1


def test_publish_prompt_wrong_empty_or_no_answer_exits_nonzero_unpublished(
    tmp_path, monkeypatch, capsys
):
    from nnsim.cli import main

    folder, _ = _bundle(tmp_path)
    with FakeZenodo() as z:
        monkeypatch.setenv("ZENODO_TOKEN", z.token)
        up = ["release", "upload", "--params", str(_params(tmp_path, z.url)), "--dir", str(folder)]

        def no_input(prompt):
            raise EOFError

        for answer in (lambda p: "2", lambda p: "", no_input):
            monkeypatch.setattr("builtins.input", answer)
            assert main([*up, "--publish"]) == 1
            err = capsys.readouterr().err
            assert "not published" in err and "Traceback" not in err
        assert not z.depositions[1]["submitted"]


def test_the_token_never_goes_to_another_host(tmp_path):
    folder, names = _bundle(tmp_path)
    with FakeZenodo() as z, FakeZenodo(token="other") as elsewhere:
        z.bucket_base = elsewhere.url  # the deposition's bucket link names another host
        client = ZenodoClient(z.url, z.token, retries=0, backoff=0.01, timeout=5)
        meta = {"upload_type": "dataset", "title": "t"}
        with pytest.raises(ZenodoError, match="not on the configured Zenodo host"):
            upload_bundle(client, folder, names, meta, state_file=tmp_path / "s.json")
        assert elsewhere.auth_seen == []  # not one request reached it
        assert all(a == f"Bearer {z.token}" for a in z.auth_seen)


def test_odd_replies_and_state_files_are_clear_errors(tmp_path):
    folder, names = _bundle(tmp_path)
    meta = {"upload_type": "dataset", "title": "t"}
    with FakeZenodo() as z:
        client = ZenodoClient(z.url, z.token, retries=0, backoff=0.01, timeout=5)

        def up(state):
            return upload_bundle(client, folder, names, meta, state_file=state)

        z.html_on_create = True
        with pytest.raises(ZenodoError, match=r"HTTP 200 but not JSON \(text/html"):
            up(tmp_path / "a.json")
        z.html_on_create, z.no_links = False, True
        with pytest.raises(ZenodoError, match=r"deposition 1: Zenodo's reply has no links.bucket"):
            up(tmp_path / "b.json")
        z.no_links = False
        bad = tmp_path / "c.json"
        for text in ("{not json", '{"bucket": "x"}', '{"deposition_id": "seven"}', "[]"):
            bad.write_text(text)
            with pytest.raises(NnsimError, match=r"c\.json: not an upload state file.*Delete it"):
                up(bad)
        bad.write_text('{"deposition_id": 99}')
        with pytest.raises(ZenodoError, match=r"names deposition 99, which .* does not know"):
            up(bad)
        assert not (tmp_path / "a.json").exists()  # nothing recorded for a failed create
