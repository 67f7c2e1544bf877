"""The per-track computation of the extraction: decode, mel patches, every graph once.

Shared by the local process pool (:mod:`nnsim.audio.extract`) and the Dask worker plugin
(:mod:`nnsim.audio.dask_plugin`); it imports neither, so the two never import each other.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nnsim.audio.models import ModelSpec
from nnsim.errors import ConfigError, InputError
from nnsim.settings import AudioSettings

PATCH_FRAMES = 187
MEL_BANDS = 96


class SkipTrack(Exception):
    """A track that cannot give features (the message is the reason)."""


def frame_signal(audio: np.ndarray, size: int = 512, hop: int = 256) -> np.ndarray:
    """Frames exactly as Essentia's ``FrameCutter`` defaults cut them, in one numpy gather.

    The first frame is centred on sample 0 (half a frame of zeros before the signal); frames
    follow every ``hop`` samples while their start is inside the signal; samples past the end
    are zeros.  Calling ``FrameCutter`` from Python instead copies the whole signal on every
    call (quadratic: 0.8 s for 30 s of audio, against 0.03 s here).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,)]
    size, hop : int

    Returns
    -------
    np.ndarray [shape=(n_frames, size), dtype=float32]
    """
    x = np.asarray(audio, dtype=np.float32)
    half = size // 2
    count = -(-(x.size + half) // hop)
    padded = np.zeros(half + count * hop + size, dtype=np.float32)
    padded[half : half + x.size] = x
    idx = np.arange(count)[:, None] * hop + np.arange(size)[None, :]
    return padded[idx]


def mel_patches(audio: np.ndarray, patch_hop: int) -> np.ndarray:
    """MusiCNN mel patches of a 16 kHz signal.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), dtype=float32]
    patch_hop : int
        Frames between patch starts (187 = no overlap).

    Returns
    -------
    np.ndarray [shape=(n_patches, 187, 96), dtype=float32]
        The last incomplete patch is discarded (as ``TensorflowPredictMusiCNN`` does).
    """
    import essentia.standard as es

    mel = es.TensorflowInputMusiCNN()
    # FrameCutter's default framing (first frame centred on sample 0), as TensorflowPredictMusiCNN.
    frames = frame_signal(audio, 512, 256)
    if frames.shape[0] < PATCH_FRAMES:
        return np.zeros((0, PATCH_FRAMES, MEL_BANDS), dtype=np.float32)
    M = np.asarray([mel(f) for f in frames], dtype=np.float32)
    starts = range(0, M.shape[0] - PATCH_FRAMES + 1, patch_hop)
    return np.stack([M[s : s + PATCH_FRAMES] for s in starts])


def onnx_graph(spec: ModelSpec) -> Path:
    """The ONNX file the ``models`` stage wrote beside a frozen graph."""
    return spec.graph.with_suffix(".onnx")


def onnx_session(spec: ModelSpec, settings: AudioSettings) -> Any:
    """An onnxruntime session of a model's converted graph (``audio.runtime=onnxruntime``).

    Its threads: ``audio.runtime_threads`` (0: the cores divided among ``audio.workers``).
    """
    path = onnx_graph(spec)
    if not path.is_file():
        raise InputError(
            f"model {spec.name}: {path} not found. The models stage converts the frozen graphs "
            "to ONNX: run `dvc repro models` (or `make demo`), or set audio.runtime=essentia."
        )
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = settings.threads_per_worker(os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # idle threads sleep instead of spinning: decoding and the mel patches run between runs
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class Extractor:
    """Predictors for a set of models, built once per process (``audio.runtime`` decides
    whether the MusiCNN/VGG graphs run in Essentia's TensorFlow or in onnxruntime)."""

    def __init__(self, specs: Sequence[ModelSpec], settings: AudioSettings) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import essentia

        essentia.log.infoActive = False
        essentia.log.warningActive = False
        import essentia.standard as es

        self.es = es
        self.essentia = essentia
        self.settings = settings
        self.specs = list(specs)
        self.predictors: dict[str, Any] = {}
        self.sessions: dict[str, Any] = {}
        for s in self.specs:
            if s.frontend == "musicnn" and settings.runtime == "onnxruntime":
                self.sessions[s.name] = onnx_session(s, settings)
            elif s.frontend == "musicnn":
                self.predictors[s.name] = es.TensorflowPredict(
                    graphFilename=str(s.graph), inputs=[s.input], outputs=list(s.layers.values())
                )
            elif s.frontend == "vggish":
                ((_layer, node),) = s.layers.items()
                self.predictors[s.name] = es.TensorflowPredictVGGish(
                    graphFilename=str(s.graph),
                    input=s.input,
                    output=node,
                    patchHopSize=settings.vggish_patch_hop,
                )
            else:
                raise ConfigError(
                    f"model {s.name}: unknown frontend {s.frontend!r}; valid: musicnn, vggish."
                )

    def load(self, path: Path) -> np.ndarray:
        """Decode, resample and check one file (raises :class:`SkipTrack`)."""
        st = self.settings
        try:
            audio = self.es.MonoLoader(
                filename=str(path), sampleRate=st.sample_rate, resampleQuality=st.resample_quality
            )()
        except RuntimeError as exc:
            raise SkipTrack(f"unreadable: {str(exc).strip().splitlines()[0][:200]}") from None
        audio = np.asarray(audio, dtype=np.float32)
        dur = audio.size / st.sample_rate
        if dur < st.min_duration:
            raise SkipTrack(f"too short: {dur:.2f} s < audio.min_duration={st.min_duration} s")
        if not np.all(np.isfinite(audio)):
            raise SkipTrack("corrupt: decoded samples are not finite")
        rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
        if rms < st.silence_rms:
            raise SkipTrack(f"silent: RMS {rms:.2e} < audio.silence_rms={st.silence_rms}")
        return audio

    def run(self, audio: np.ndarray, wanted: Sequence[str]) -> dict[str, dict[str, np.ndarray]]:
        """Mean-pooled vectors per model and layer for the models in ``wanted``."""
        out: dict[str, dict[str, np.ndarray]] = {}
        patches = None
        for s in self.specs:
            if s.name not in wanted:
                continue
            if s.frontend == "musicnn":
                if patches is None:
                    patches = mel_patches(audio, self.settings.patch_hop)
                    if patches.shape[0] == 0:
                        raise SkipTrack("too short: no complete 187-frame patch")
                if s.name in self.sessions:
                    outs = [n if ":" in n else n + ":0" for n in s.layers.values()]
                    got = self.sessions[s.name].run(outs, {s.input + ":0": patches})
                    res = dict(zip(s.layers.values(), got, strict=True))
                else:
                    pool = self.essentia.Pool()
                    pool.set(s.input, patches[:, None, :, :])
                    res = self.predictors[s.name](pool)
                vecs = {}
                for layer, node in s.layers.items():
                    arr = np.asarray(res[node], dtype=np.float32).reshape(patches.shape[0], -1)
                    vecs[layer] = arr.mean(axis=0)
            else:
                ((layer, _node),) = s.layers.items()
                arr = np.asarray(self.predictors[s.name](audio), dtype=np.float32)
                if arr.ndim != 2 or arr.shape[0] == 0:
                    raise SkipTrack("too short: no complete VGGish patch")
                vecs = {layer: arr.mean(axis=0)}
            for layer, v in vecs.items():
                if v.shape != (s.dims[layer],):
                    raise InputError(
                        f"model {s.name}: layer {layer} ({s.layers[layer]}) gave shape {v.shape}, "
                        f"expected ({s.dims[layer]},). Check models.specs.{s.name}.layers in conf/."
                    )
                if not np.all(np.isfinite(v)):
                    raise SkipTrack(f"corrupt: model {s.name} gave non-finite {layer}")
            out[s.name] = vecs
        return out
