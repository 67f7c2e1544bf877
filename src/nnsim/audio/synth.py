"""A small deterministic synthetic music corpus for the embedded demo (labelled synthetic).

Each clip is one of a few clearly different styles (tempo, percussion density, harmony,
timbre, noise colour), with per-clip random key, tempo jitter and mix, all from a seeded RNG.
The audio is generated, not recorded: it only exercises the pipeline end to end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.signal import lfilter

#: Styles available to :func:`synth_clip`.
STYLES = ("pad", "drums", "arp", "ambient", "pluck", "house")


def _env(n: int, attack: int, decay: float, sr: int) -> np.ndarray:
    t = np.arange(n) / sr
    e = np.exp(-t * decay)
    a = min(attack, n)
    e[:a] *= np.linspace(0.0, 1.0, a)
    return e


def _place(out: np.ndarray, onsets: np.ndarray, sound: np.ndarray) -> None:
    for o in onsets:
        end = min(out.size, o + sound.size)
        out[o:end] += sound[: end - o]


def _kick(sr: int) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    f = 50 + 90 * np.exp(-t * 30)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 12)


def _noise_hit(rng: np.random.Generator, sr: int, dur: float, decay: float, hp: bool) -> np.ndarray:
    x = rng.standard_normal(int(dur * sr))
    if hp:
        x = np.diff(x, prepend=0.0)
    return x * np.exp(-np.arange(x.size) / sr * decay) * 0.5


def _saw(freq: float, n: int, sr: int) -> np.ndarray:
    ph = (np.arange(n) * freq / sr) % 1.0
    return 2.0 * ph - 1.0


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    return lfilter(b, a, rng.standard_normal(n))


def _beat_onsets(bpm: float, n: int, sr: int, div: int = 1, offset: float = 0.0) -> np.ndarray:
    step = 60.0 / bpm / div
    times = np.arange(offset, n / sr, step)
    return (times * sr).astype(int)


def _style_pad(rng, n, sr):
    root = 110 * 2 ** (rng.integers(0, 12) / 12)
    out = np.zeros(n)
    chords = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (-3, 0, 4)]
    seg = n // 4
    for c, chord in enumerate(chords):
        t = np.arange(seg) / sr
        for iv in chord:
            f = root * 2 ** (iv / 12)
            out[c * seg : (c + 1) * seg] += np.sin(2 * np.pi * f * t + rng.random() * 6) * 0.2
    lfo = 0.7 + 0.3 * np.sin(2 * np.pi * 0.2 * np.arange(n) / sr)
    return out * lfo


def _style_drums(rng, n, sr):
    bpm = rng.uniform(150, 175)
    out = np.zeros(n)
    _place(out, _beat_onsets(bpm, n, sr, 1), _kick(sr))
    _place(out, _beat_onsets(bpm, n, sr, 1, 30 / bpm), _noise_hit(rng, sr, 0.2, 20, False))
    _place(out, _beat_onsets(bpm, n, sr, 4), _noise_hit(rng, sr, 0.05, 80, True) * 0.5)
    return out


def _style_arp(rng, n, sr):
    bpm = rng.uniform(115, 130)
    root = 220 * 2 ** (rng.integers(0, 12) / 12)
    pattern = [0, 4, 7, 12, 7, 4]
    onsets = _beat_onsets(bpm, n, sr, 4)
    out = np.zeros(n)
    ln = int(60 / bpm / 4 * sr)
    for i, o in enumerate(onsets):
        f = root * 2 ** (pattern[i % len(pattern)] / 12)
        note = _saw(f, ln, sr) * _env(ln, 50, 8, sr) * 0.3
        _place(out, np.array([o]), note)
    return lfilter([0.3], [1, -0.7], out)


def _style_ambient(rng, n, sr):
    x = _pink(rng, n)
    mod = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * np.arange(n) / sr)
    return x / (np.abs(x).max() + 1e-9) * mod * 0.5


def _style_pluck(rng, n, sr):
    bpm = rng.uniform(90, 110)
    root = 146.8 * 2 ** (rng.integers(0, 12) / 12)
    minor = [0, 3, 7, 10, 12, 15]
    out = np.zeros(n)
    for _i, o in enumerate(_beat_onsets(bpm, n, sr, 2)):
        f = root * 2 ** (minor[rng.integers(0, len(minor))] / 12)
        period = int(sr / f)
        burst = np.zeros(int(0.8 * sr))
        burst[:period] = rng.uniform(-1, 1, period)
        a = np.zeros(period + 2)
        a[0], a[period], a[period + 1] = 1.0, -0.498, -0.498
        _place(out, np.array([o]), lfilter([1.0], a, burst) * 0.4)
    return out


def _style_house(rng, n, sr):
    bpm = rng.uniform(120, 128)
    out = np.zeros(n)
    _place(out, _beat_onsets(bpm, n, sr, 1), _kick(sr) * 1.2)
    _place(out, _beat_onsets(bpm, n, sr, 2, 30 / bpm), _noise_hit(rng, sr, 0.08, 60, True) * 0.6)
    root = 55 * 2 ** (rng.integers(0, 7) / 12)
    t = np.arange(n) / sr
    bass = np.sin(2 * np.pi * root * t) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * bpm / 60 * t)))
    return out + 0.35 * bass


_GENERATORS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "pad": _style_pad,
    "drums": _style_drums,
    "arp": _style_arp,
    "ambient": _style_ambient,
    "pluck": _style_pluck,
    "house": _style_house,
}


def synth_clip(style: str, seed: int, *, duration: float, sr: int) -> np.ndarray:
    """One synthetic clip.

    Parameters
    ----------
    style : str
        One of :data:`STYLES`.
    seed : int
        Seed of the clip's random choices.
    duration : float
        Seconds.
    sr : int
        Sample rate.

    Returns
    -------
    np.ndarray [shape=(duration * sr,), dtype=float32]
        Peak-normalised to 0.8 with a little white noise.
    """
    if style not in _GENERATORS:
        from nnsim.errors import ConfigError

        raise ConfigError(f"unknown demo style {style!r}; valid styles: {', '.join(STYLES)}.")
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    x = _GENERATORS[style](rng, n, sr)
    x = x + 0.005 * rng.standard_normal(n)
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.5, 0.8)
    return x.astype(np.float32)
