"""Content-based extraction: conversion fidelity, node/shape contracts, skipping, resumption,
the VGGish stand-in path and the bad inputs.  Uses the real musicnn weights (frozen by the
TensorFlow environment made by `make setup`) and Essentia-TensorFlow."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from nnsim.audio.extract import extract, find_audio
from nnsim.audio.extractor import Extractor, frame_signal, mel_patches
from nnsim.audio.models import check_graph, file_sha256, graph_nodes, model_specs
from nnsim.audio.synth import STYLES, synth_clip
from nnsim.config import compose
from nnsim.errors import ConfigError, InputError, Interrupted

ROOT = Path(__file__).resolve().parents[1]
TF_PYTHON = ROOT / ".venv-tf" / "bin" / "python"
CONVERTER = ROOT / "src" / "nnsim" / "audio" / "convert_musicnn.py"
SR = 16000
AUDIO = compose().audio


def musicnn_ckpt(name: str) -> Path:
    from nnsim.stages.models import musicnn_dir

    return musicnn_dir() / name


@pytest.fixture(scope="session")
def frozen(tmp_path_factory):
    """The four musicnn graphs frozen by the real converter (in the TensorFlow environment)."""
    if not TF_PYTHON.is_file():
        pytest.fail(".venv-tf missing: run `make setup` (the TensorFlow conversion environment)")
    out = tmp_path_factory.mktemp("frozen")
    cfg = compose()
    infos = {}
    for s in model_specs(cfg.models, out):
        if not s.checkpoint:
            continue
        proc = subprocess.run(
            [
                str(TF_PYTHON),
                str(CONVERTER),
                "freeze",
                str(musicnn_ckpt(s.checkpoint)),
                str(out / f"{s.name}.pb"),
                "--outputs",
                *s.layers.values(),
                "--onnx",
                str(out / f"{s.name}.onnx"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        infos[s.name] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out, cfg, infos


def specs_at(cfg, models_dir):
    models = replace(cfg.models, list=[m for m in cfg.models.list if m != "audioset-vggish"])
    specs = model_specs(models, models_dir)
    for s in specs:
        s.graph = Path(models_dir) / f"{s.name}.pb"
    return specs


def test_rebuilt_graphs_match_the_pinned_hashes(frozen):
    out, cfg, infos = frozen
    for name, info in infos.items():
        assert info["sha256"] == cfg.models.specs[name].sha256, name
        assert file_sha256(out / f"{name}.pb") == info["sha256"]


@pytest.mark.slow
def test_frozen_graph_in_essentia_matches_checkpoint_in_tensorflow(frozen, tmp_path):
    out, cfg, _ = frozen
    audio = synth_clip("arp", 3, duration=12.0, sr=SR)
    patches = mel_patches(audio, 187)
    np.save(tmp_path / "patches.npy", patches)
    for s in specs_at(cfg, out):
        ref_path = tmp_path / f"{s.name}.npz"
        subprocess.run(
            [
                str(TF_PYTHON),
                str(CONVERTER),
                "reference",
                str(musicnn_ckpt(s.checkpoint)),
                str(tmp_path / "patches.npy"),
                str(ref_path),
                "--outputs",
                *s.layers.values(),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ref = np.load(ref_path)
        import essentia
        import essentia.standard as es

        pool = essentia.Pool()
        pool.set(s.input, patches[:, None])
        res = es.TensorflowPredict(
            graphFilename=str(s.graph), inputs=[s.input], outputs=list(s.layers.values())
        )(pool)
        for node in s.layers.values():
            got = np.asarray(res[node]).reshape(ref[node].shape)
            np.testing.assert_allclose(got, ref[node], atol=2e-5, rtol=0)


def test_node_and_shape_contracts_and_essentia_patching(frozen):
    out, cfg, _ = frozen
    specs = specs_at(cfg, out)
    ex = Extractor(specs, AUDIO)
    audio = synth_clip("house", 5, duration=9.0, sr=SR)
    res = ex.run(audio, [s.name for s in specs])
    dims = {name: {k: v.shape for k, v in vecs.items()} for name, vecs in res.items()}
    assert dims == {
        "msd-musicnn": {"embeddings": (200,), "taggrams": (50,)},
        "mtat-musicnn": {"embeddings": (200,), "taggrams": (50,)},
        "msd-vgg": {"embeddings": (256,), "taggrams": (50,)},
        "mtat-vgg": {"embeddings": (256,), "taggrams": (50,)},
    }
    for vecs in res.values():
        assert np.all((vecs["taggrams"] > 0) & (vecs["taggrams"] < 1))
    # Our patching equals Essentia's own TensorflowPredictMusiCNN without overlap.
    import essentia.standard as es

    s = specs[0]
    own = es.TensorflowPredictMusiCNN(
        graphFilename=str(s.graph), output="model/Sigmoid", patchHopSize=187
    )(audio)
    np.testing.assert_allclose(np.asarray(own).mean(axis=0), res[s.name]["taggrams"], atol=1e-5)


@pytest.mark.parametrize("n", [255, 256, 257, 512, 513, 767, 12345, 144000, 144100])
def test_framing_equals_essentia_framecutter(n):
    import essentia.standard as es

    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    fc = es.FrameCutter(frameSize=512, hopSize=256)
    ref = []
    while len(fr := fc(x)):
        ref.append(np.asarray(fr))
    np.testing.assert_array_equal(frame_signal(x, 512, 256), np.asarray(ref))


@pytest.mark.slow
def test_onnxruntime_gives_essentias_vectors_on_real_models(frozen, tmp_path):
    # The same clips through both runtimes of every real MusiCNN/VGG graph: the extraction's
    # vectors (mean over patches) agree to cosine >= 0.99999 per track and space, and the
    # patches themselves to 1e-4; the converted graphs are recorded with their hashes.
    out, cfg, infos = frozen
    specs = specs_at(cfg, out)
    for s in specs:
        assert infos[s.name]["onnx"]["sha256"] == file_sha256(out / f"{s.name}.onnx")
    clips = [synth_clip(STYLES[i % len(STYLES)], 40 + i, duration=9.0, sr=SR) for i in range(5)]
    ess = Extractor(specs, replace(AUDIO, runtime="essentia"))
    ort = Extractor(specs, replace(AUDIO, runtime="onnxruntime", runtime_threads=1))
    assert not ess.sessions and set(ort.sessions) == {s.name for s in specs}
    names = [s.name for s in specs]
    worst = 1.0
    for clip in clips:
        a, b = ess.run(clip, names), ort.run(clip, names)
        for m in names:
            for layer, v in a[m].items():
                w = b[m][layer]
                cos = float(np.dot(v, w) / (np.linalg.norm(v) * np.linalg.norm(w)))
                worst = min(worst, cos)
                np.testing.assert_allclose(w, v, atol=1e-4, rtol=0)
    assert worst >= 0.99999, worst
    # a missing converted graph names the file and the fixes
    (tmp_path / "g").mkdir()
    lone = specs_at(cfg, tmp_path / "g")[:1]
    lone[0].graph.write_bytes((out / f"{lone[0].name}.pb").read_bytes())
    with pytest.raises(InputError, match=r"\.onnx not found.*dvc repro models.*runtime=essentia"):
        Extractor(lone, replace(AUDIO, runtime="onnxruntime"))


def _corpus(folder: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        sub = folder / f"{i % 3:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(
            sub / f"{1000 + i}.flac",
            synth_clip(STYLES[i % len(STYLES)], i, duration=6.0, sr=SR),
            SR,
        )


def test_bad_files_are_skipped_with_reasons_and_resume_is_incremental(frozen, tmp_path):
    out, cfg, _ = frozen
    specs = specs_at(cfg, out)[:2]
    audio_dir = tmp_path / "audio"
    _corpus(audio_dir, 3)
    (audio_dir / "00" / "2000.mp3").write_bytes(b"\x00garbage" * 100)
    sf.write(audio_dir / "01" / "2001.wav", np.zeros(SR * 5, dtype=np.float32), SR)
    sf.write(audio_dir / "02" / "2002.ogg", synth_clip("pad", 1, duration=1.0, sr=SR), SR)
    tracks = find_audio(audio_dir, ["mp3", "ogg", "flac", "wav"], "stem")
    assert [t for t, _ in tracks] == ["1000", "1001", "1002", "2000", "2001", "2002"]
    cache = tmp_path / "cache"
    res = extract(tracks, specs, AUDIO, cache, workers=1, show_progress=False)
    assert res.ids == ["1000", "1001", "1002"]
    reasons = {t: r for t, _, r in res.skipped}
    assert reasons["2000"].startswith("unreadable")
    assert reasons["2001"].startswith("silent")
    assert reasons["2002"].startswith("too short")
    for vecs in res.vectors.values():
        assert all(np.isfinite(v).all() for v in vecs.values())
    # Add one file: only it is extracted; results for the others come from the cache.
    _corpus(audio_dir, 1, start=3)
    tracks = find_audio(audio_dir, ["flac"], "stem")
    res2 = extract(tracks, specs, AUDIO, cache, workers=2, show_progress=False)
    assert res2.n_cached == 3 and res2.ids == ["1000", "1001", "1002", "1003"]
    np.testing.assert_array_equal(
        res2.vectors[specs[0].name]["taggrams"][:3], res.vectors[specs[0].name]["taggrams"]
    )
    assert res2.audio_seconds == pytest.approx(6.0, abs=0.1)
    # An interrupted run (a cache entry lost, a torn write) recomputes only what is missing.
    victim = next(cache.rglob("*.npz"))
    victim.write_bytes(b"torn")
    res3 = extract(tracks, specs, AUDIO, cache, workers=1, show_progress=False)
    assert res3.n_cached == 3
    np.testing.assert_allclose(
        res3.vectors[specs[0].name]["embeddings"],
        res2.vectors[specs[0].name]["embeddings"],
        atol=1e-6,
    )


def test_vggish_standin_graph_path(tmp_path):
    pb, weights = tmp_path / "vggish.pb", tmp_path / "w.npz"
    subprocess.run(
        [
            str(TF_PYTHON),
            str(ROOT / "tests" / "tf_helpers" / "make_vggish_standin.py"),
            str(pb),
            str(weights),
        ],
        check=True,
        capture_output=True,
    )
    cfg = compose(["models.list=[audioset-vggish]"])
    (spec,) = model_specs(cfg.models, tmp_path)
    assert spec.frontend == "vggish" and spec.checkpoint is None
    spec.graph = pb
    check_graph(spec)
    ex = Extractor([spec], AUDIO)
    audio = synth_clip("drums", 2, duration=10.0, sr=SR)
    res = ex.run(audio, [spec.name])
    v = res[spec.name]["embeddings"]
    assert v.shape == (128,) and np.isfinite(v).all()
    import essentia.standard as es

    direct = np.asarray(
        es.TensorflowPredictVGGish(
            graphFilename=str(pb),
            input="model/Placeholder",
            output="model/vggish/embeddings",
            patchHopSize=96,
        )(audio)
    )
    assert direct.shape == (10, 128)  # 10 s / 0.96 s patches, no overlap
    np.testing.assert_allclose(v, direct.mean(axis=0), atol=1e-6)


def test_model_bad_inputs(frozen, tmp_path):
    out, cfg, _ = frozen
    spec = specs_at(cfg, out)[0]
    spec.sha256 = "0" * 64
    with pytest.raises(InputError, match=r"has sha256 .* expected 0000"):
        check_graph(spec)
    spec.sha256 = None
    spec.layers = {"embeddings": "model/not_a_node", "taggrams": "model/Sigmoid"}
    with pytest.raises(InputError, match=r"model/not_a_node.*Candidate outputs .*model/Sigmoid"):
        check_graph(spec)
    spec.graph = tmp_path / "missing.pb"
    with pytest.raises(InputError, match="dvc repro models"):
        check_graph(spec)
    (vgg,) = model_specs(compose(["models.list=[audioset-vggish]"]).models, tmp_path)
    with pytest.raises(
        InputError, match=r"dvc import-url https://essentia\.upf\.edu/models/.*vggish-3\.pb"
    ):
        check_graph(vgg)
    with pytest.raises(ConfigError, match="valid models: msd-musicnn"):
        compose(["models.list=[nope]"])
    assert ("model/Sigmoid", "Sigmoid") in graph_nodes(out / "msd-musicnn.pb")


def test_audio_folder_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        find_audio(tmp_path / "nope", ["mp3"], "stem")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="has no files with extensions"):
        find_audio(tmp_path / "empty", ["mp3"], "stem")
    d = tmp_path / "dups"
    (d / "a").mkdir(parents=True)
    (d / "b").mkdir()
    (d / "a" / "1.wav").write_bytes(b"x")
    (d / "b" / "1.wav").write_bytes(b"x")
    with pytest.raises(InputError, match="track_id=relpath"):
        find_audio(d, ["wav"], "stem")
    assert [t for t, _ in find_audio(d, ["wav"], "relpath")] == ["a/1", "b/1"]
    with pytest.raises(ConfigError, match="valid: stem, relpath"):
        find_audio(d, ["wav"], "hash")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))


def stage_params(tmp_path: Path, frozen_dir: Path, audio: Path, *, workers: int) -> Path:
    """params.yaml for running the extract stage on ``audio`` with the frozen test graphs."""
    from nnsim.config import dump

    mdir = tmp_path / "models"
    mdir.mkdir()
    (mdir / "frozen").symlink_to(frozen_dir)
    cfg = compose(
        [
            f"paths.models_dir={mdir}",
            f"data.audio_dir={audio}",
            f"audio.cache_dir={tmp_path / 'c'}",
            f"paths.spaces_dir={tmp_path / 'spaces'}",
            f"paths.metrics_dir={tmp_path / 'm'}",
            "mlflow=off",
            f"audio.workers={workers}",
        ]
    )
    params = tmp_path / "params.yaml"
    params.write_text(dump(cfg))
    return params


def test_extract_stage_fails_clearly_when_no_track_extracts(frozen, tmp_path, capsys):
    from nnsim.stages.extract import main as extract_main

    out, _, _ = frozen
    audio = tmp_path / "audio"
    audio.mkdir()
    sf.write(audio / "quiet.wav", np.zeros(SR * 5, dtype=np.float32), SR)
    params = stage_params(tmp_path, out, audio, workers=1)
    assert extract_main(["--params", str(params), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "could be extracted" in err and "silent" in err
    assert not (tmp_path / "spaces" / "cb").exists()


def test_official_source_points_at_official_graphs_without_local_pins(tmp_path):
    cfg = compose(["models.source=official"])
    specs = {s.name: s for s in model_specs(cfg.models, tmp_path)}
    assert specs["msd-musicnn"].graph == tmp_path / "official" / "msd-musicnn-1.pb"
    assert specs["mtat-vgg"].graph == tmp_path / "official" / "mtt-vgg-1.pb"
    assert all(s.sha256 is None and s.checkpoint is None for s in specs.values())
    with pytest.raises(InputError, match=r"autotagging/mtt/mtt-vgg-1\.pb"):
        check_graph(specs["mtat-vgg"])


def test_damaged_cache_entries_are_misses_recomputed_and_counted(frozen, tmp_path, caplog):
    out, cfg, _ = frozen
    specs = specs_at(cfg, out)[:2]
    audio_dir = tmp_path / "audio"
    _corpus(audio_dir, 4)
    tracks = find_audio(audio_dir, ["flac"], "stem")
    cache = tmp_path / "cache"
    clean = extract(tracks, specs, AUDIO, cache, workers=1, show_progress=False)
    entries = sorted(cache.rglob("*.npz"))
    assert len(entries) == 8  # 4 tracks x 2 models
    truncated, garbage, wrong = entries[0], entries[3], entries[6]
    truncated.write_bytes(truncated.read_bytes()[:40])  # a torn or partial copy
    garbage.write_bytes(b"\x00\xff not a zip file at all " * 20)  # a disk error
    layers = list(np.load(wrong).files)
    np.savez(wrong, **{layer: np.zeros(7, dtype=np.float32) for layer in layers})  # wrong shape
    with caplog.at_level("WARNING"):
        res = extract(tracks, specs, AUDIO, cache, workers=1, show_progress=False)
    assert res.n_damaged == 3
    for p in (truncated, garbage, wrong):
        assert str(p) in caplog.text
    for s in specs:
        for layer in s.layers:
            np.testing.assert_array_equal(res.vectors[s.name][layer], clean.vectors[s.name][layer])
    # replaced atomically: the entries read back, and a third run finds nothing damaged
    again = extract(tracks, specs, AUDIO, cache, workers=1, show_progress=False)
    assert again.n_damaged == 0 and again.n_cached == 4


def test_ctrl_c_during_extraction_says_what_is_kept_and_exits_130(frozen, tmp_path):
    """A real SIGINT at a fixed point (after the 8th of 24 tracks, sent by the extraction's
    own callback in the parent process of a 2-process pool): what was cached is reported,
    the stage exits 130 without a traceback, and a rerun extracts only the rest."""
    import signal

    from nnsim.stages.common import run_stage
    from nnsim.stages.extract import run as extract_run

    out, cfg, _ = frozen
    audio = tmp_path / "audio"
    _corpus(audio, 24)
    specs = specs_at(cfg, out)
    tracks = find_audio(audio, ["flac"], "stem")

    seen = []

    def interrupt_after_8(done, total):
        assert total == 24
        if done == 8:
            # what a terminal's Ctrl-C does to this process, raised in this (the main) thread
            # so no other thread can take it; the state is recorded for the failure message
            seen.append((signal.getsignal(signal.SIGINT), signal.pthread_sigmask(0, [])))
            signal.raise_signal(signal.SIGINT)

    # a Python process's own Ctrl-C handling, whatever an earlier test left behind
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    try:
        with pytest.raises(Interrupted, match=r"interrupted: 8 of 24 tracks cached under .*resume"):
            extract(
                tracks,
                specs,
                AUDIO,
                tmp_path / "c",
                workers=2,
                show_progress=False,
                callback=interrupt_after_8,
            )
    except pytest.fail.Exception:
        pytest.fail(f"SIGINT after the 8th track did not interrupt (handler, mask): {seen}")
    finally:
        signal.signal(signal.SIGINT, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    # workers write their tracks' cache entries themselves: at least those 8 are there
    assert len(list((tmp_path / "c").rglob("*.npz"))) >= 8 * len(specs)
    # the stage turns the interruption into exit 130 and the message, with no traceback
    params = stage_params(tmp_path, out, audio, workers=2)
    err = io.StringIO()

    def stopped(cfg_, args):
        raise Interrupted("interrupted: 8 of 24 tracks cached under c; rerun to resume")

    with contextlib.redirect_stderr(err):
        assert run_stage(stopped, "x", ["--params", str(params)]) == 130
    assert "rerun to resume" in err.getvalue() and "Traceback" not in err.getvalue()
    assert not (tmp_path / "spaces" / "cb").exists()
    # resuming extracts only the rest
    with contextlib.redirect_stderr(io.StringIO()):
        assert run_stage(extract_run, "x", ["--params", str(params), "--quiet"]) == 0
    assert json.loads((tmp_path / "m" / "extract.json").read_text())["cached_tracks"] >= 8


@pytest.mark.slow
def test_extraction_on_a_two_worker_dask_cluster_is_bit_identical_and_survives_a_dead_worker(
    frozen, tmp_path
):
    """Real LocalCluster (2 worker processes, loopback): same vectors as the local path; a
    worker killed mid-run has its tasks rerun; finished tracks are cached on this side."""
    import signal

    from nnsim.cluster import DaskRun, dask_client

    out, cfg, _ = frozen
    specs = specs_at(cfg, out)[:2]
    audio_dir = tmp_path / "audio"
    _corpus(audio_dir, 8)
    tracks = find_audio(audio_dir, ["flac"], "stem")
    local = extract(tracks, specs, AUDIO, tmp_path / "c1", workers=1, show_progress=False)
    with dask_client(compose().cluster) as client:
        pids = list(client.run(os.getpid).values())
        killed = []

        def kill_after_the_first_track(done, total):
            # a fixed point mid-run: one track back on this side, seven to go
            if done == 1:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(total - done)

        res = extract(
            tracks,
            specs,
            AUDIO,
            tmp_path / "c2",
            workers=1,
            show_progress=False,
            dask=DaskRun(client, retries=2),
            callback=kill_after_the_first_track,
        )
    assert killed == [7]
    assert res.ids == local.ids and len(res.ids) == 8
    for s in specs:
        for layer in s.layers:
            assert np.array_equal(res.vectors[s.name][layer], local.vectors[s.name][layer])
    # every finished track is in the cache: a rerun computes nothing
    again = extract(tracks, specs, AUDIO, tmp_path / "c2", workers=1, show_progress=False)
    assert again.n_cached == 8 and again.audio_seconds == 0
