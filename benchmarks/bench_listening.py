"""Benchmark: N simulated participants take the whole listening test over loopback at once.

A study of 4 references x 5 playlists x 4 tracks (generated tones), served by the project's
own server (``nnsim listening serve``: threaded Werkzeug) and by gunicorn (``gthread``
workers, the same app through ``nnsim.listening.serve:wsgi()``).  Each participant, in its own
thread: the welcome page, consent, per reference the page, its script, the first 64 KiB of
every player's audio (what a browser fetches to show a player) and the submission, then the
demographics and the thanks page.  Reports requests per second, p50 and p95 latency, and the
answers lost: the export (``nnsim listening export``) must hold every submitted answer.
``new_per_minute`` is 0 here (the participants share one address).  Writes
``benchmarks/results/listening.json``.  Run: ``make bench`` or
``python benchmarks/bench_listening.py [--participants 10 50 200]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import requests
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import free_port, stop, wait_http

from nnsim.config import compose, dump

N_REFS, N_SPACES, LENGTH, SR = 4, 5, 4, 16000


def make_study(root: Path) -> tuple[Path, Path]:
    audio = root / "audio"
    audio.mkdir(parents=True)
    tracks = [f"t{i:03d}" for i in range(40)]
    t = np.arange(int(45 * SR)) / SR
    for i, name in enumerate(tracks):
        sf.write(audio / f"{name}.wav", 0.2 * np.sin(2 * np.pi * (200 + 10 * i) * t), SR)
    rng = np.random.default_rng(0)
    study = {
        r: {
            f"space{j}": [str(x) for x in rng.choice(tracks[N_REFS:], LENGTH, replace=False)]
            for j in range(N_SPACES)
        }
        for r in tracks[:N_REFS]
    }
    path = root / "study.json"
    path.write_text(json.dumps({"study": study, "spaces": sorted(study[tracks[0]])}))
    return path, audio


def participant(base: str, times: list[float], lock: threading.Lock) -> int:
    """One whole session; returns the number of answers submitted."""
    s = requests.Session()
    mine: list[float] = []

    def req(method: str, url: str, **kw):
        t0 = time.perf_counter()
        r = s.request(method, base + url, timeout=120, allow_redirects=False, **kw)
        mine.append(time.perf_counter() - t0)
        if r.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:200]}")
        return r

    req("GET", "/")
    req("POST", "/consent", data={"consent": "yes"})
    answered = 0
    while True:
        html = req("GET", "/next").text
        if 'name="reference"' not in html:
            break
        tok = re.search(r'name="token" value="([^"]+)"', html).group(1)
        ref = re.search(r'name="reference" value="([^"]+)"', html).group(1)
        req("GET", "/static/listening.js")
        for src in re.findall(r'src="(/audio/[^"#]+)', html):
            req("GET", src, headers={"Range": "bytes=0-65535"})
        n = len(re.findall(r'data-position="', html))
        ratings = {f"rating-{j + 1}": str((j + answered) % 4) for j in range(n)}
        req("POST", "/submit", data={"token": tok, "reference": ref, **ratings})
        answered += n
    tok = re.search(r'name="token" value="([^"]+)"', html).group(1)
    req("POST", "/demographics", data={"token": tok, "age_group": "25-34"})
    assert "Thank you" in req("GET", "/next").text
    with lock:
        times.extend(mine)
    return answered


def run(server: str, n: int, root: Path, study: Path, audio: Path, params: Path) -> dict:
    db = root / f"{server}-{n}.sqlite"
    port = free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    if server == "werkzeug":
        cmd = ["nnsim", "listening", "serve", "--params", str(params), "--study", str(study)]
        cmd += ["--db", str(db), "--audio-dir", str(audio), "--port", str(port)]
    else:
        env.update(NNSIM_PARAMS=str(params), NNSIM_STUDY=str(study), NNSIM_DB=str(db))
        env.update(NNSIM_AUDIO_DIR=str(audio))
        cmd = ["gunicorn", "-k", "gthread", "-w", "2", "--threads", "16", "-b"]
        cmd += [f"127.0.0.1:{port}", "--keep-alive", "30", "--timeout", "120"]
        cmd += ["--log-level", "warning", "nnsim.listening.serve:wsgi()"]
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=root,  # no comparison here: the study's spaces are not checked against one
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/")
        times: list[float] = []
        lock = threading.Lock()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=n) as pool:
            submitted = sum(pool.map(lambda _: participant(base, times, lock), range(n)))
        wall = time.perf_counter() - t0
    finally:
        stop(proc)
    out = root / f"{server}-{n}.csv"
    subprocess.run(
        [
            "nnsim",
            "listening",
            "export",
            "--params",
            str(params),
            "--db",
            str(db),
            "--out",
            str(out),
        ],
        env=env,
        cwd=root,
        check=True,
        capture_output=True,
    )
    with out.open() as f:
        exported = sum(1 for r in csv.DictReader(f) if r["rating"] != "")
    times.sort()
    return {
        "server": server,
        "participants": n,
        "requests": len(times),
        "seconds": wall,
        "requests_per_s": len(times) / wall,
        "p50_ms": 1000 * statistics.median(times),
        "p95_ms": 1000 * times[int(0.95 * (len(times) - 1))],
        "answers_submitted": submitted,
        "answers_lost": submitted - exported,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--participants", type=int, nargs="+", default=[10, 50, 200])
    ap.add_argument("--servers", nargs="+", default=["werkzeug", "gunicorn"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "listening.json"))
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        study, audio = make_study(root)
        params = root / "params.yaml"
        over = ["listening.app.new_per_minute=0", "listening.app.per_participant=null"]
        params.write_text(dump(compose(over)))
        for server in args.servers:
            for n in args.participants:
                r = run(server, n, root, study, audio, params)
                print(
                    f"{server:<9} {n:>4} participants: {r['requests']} requests in "
                    f"{r['seconds']:.1f} s = {r['requests_per_s']:.0f} req/s, p50 "
                    f"{r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, answers lost: "
                    f"{r['answers_lost']} of {r['answers_submitted']}",
                    flush=True,
                )
                assert r["answers_lost"] == 0, r
                results.append(r)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": results}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
