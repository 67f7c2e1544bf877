"""A client for Zenodo's REST deposit API: create, upload (resumable), describe, publish.

Endpoints used: ``POST /api/deposit/depositions``, ``GET /api/deposit/depositions/<id>``,
``GET <bucket>`` (the files already there, with md5 checksums), ``PUT <bucket>/<name>``,
``PUT /api/deposit/depositions/<id>`` (metadata) and
``POST /api/deposit/depositions/<id>/actions/publish``.  The token is sent as a bearer header
and never logged or shown.  5xx answers and timeouts are retried with exponential backoff; a
half-finished upload resumes from a state file beside the bundle without uploading a file
twice (files whose md5 is already in the bucket are skipped).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nnsim.errors import ConfigError, NnsimError

log = logging.getLogger(__name__)

STATE_FILE = ".zenodo-upload.json"


class ZenodoError(NnsimError):
    """Zenodo refused a request (its own message included) or kept failing."""


def read_token(env_var: str, token_file: str | None) -> str:
    """The access token from an environment variable, else a file (never printed).

    Raises
    ------
    ConfigError
        Neither is set, saying how to set one.
    """
    tok = os.environ.get(env_var, "").strip()
    if not tok and token_file:
        p = Path(token_file).expanduser()
        if p.is_file():
            tok = p.read_text().strip()
    if not tok:
        raise ConfigError(
            f"no Zenodo token: set the environment variable {env_var} (e.g. `export {env_var}="
            "...`, a token with the deposit:write scope from your Zenodo account's Applications "
            "page) or put it in the file named by release.zenodo.token_file."
        )
    return tok


def md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ZenodoClient:
    """Zenodo deposit client.

    Parameters
    ----------
    base_url : str
        ``https://zenodo.org`` or the sandbox ``https://sandbox.zenodo.org`` (a setting).
    token : str
    retries : int
        Attempts after the first for 5xx answers and timeouts.
    backoff : float
        First wait in seconds; doubled after each failure.
    timeout : float
        Seconds per request.
    """

    base_url: str
    token: str
    retries: int
    backoff: float
    timeout: float

    def __repr__(self) -> str:  # never show the token
        return f"ZenodoClient(base_url={self.base_url!r}, token=***)"

    def _request(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
        wait = self.backoff
        for attempt in range(self.retries + 1):
            body = kw.get("data")
            if body is not None and hasattr(body, "seek"):
                body.seek(0)  # a retried upload sends the whole file again
            try:
                r = requests.request(method, url, headers=headers, timeout=self.timeout, **kw)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__}"
            else:
                if r.status_code < 400:
                    return r.json() if r.content else {}
                if r.status_code < 500:
                    raise ZenodoError(f"Zenodo refused {method} {_path(url)}: {_message(r)}")
                problem = f"HTTP {r.status_code}"
            if attempt == self.retries:
                raise ZenodoError(
                    f"{method} {_path(url)} failed {self.retries + 1} times ({problem}); "
                    "rerun the upload to resume where it stopped."
                )
            log.warning("%s %s: %s; retrying in %.1f s", method, _path(url), problem, wait)
            time.sleep(wait)
            wait *= 2
        raise AssertionError("unreachable")

    def create(self) -> dict[str, Any]:
        """A new, empty deposition."""
        return dict(self._request("POST", f"{self.base_url}/api/deposit/depositions", json={}))

    def get(self, dep_id: int) -> dict[str, Any]:
        return dict(self._request("GET", f"{self.base_url}/api/deposit/depositions/{dep_id}"))

    def bucket_files(self, bucket: str) -> dict[str, str]:
        """Files already in a bucket: name -> md5 hex."""
        res = self._request("GET", bucket)
        out = {}
        for f in res.get("contents", []):
            out[f["key"]] = str(f.get("checksum", "")).removeprefix("md5:")
        return out

    def upload(self, bucket: str, path: Path, name: str) -> None:
        with open(path, "rb") as f:
            self._request("PUT", f"{bucket}/{name}", data=f)

    def set_metadata(self, dep_id: int, metadata: Mapping[str, Any]) -> None:
        self._request(
            "PUT",
            f"{self.base_url}/api/deposit/depositions/{dep_id}",
            json={"metadata": dict(metadata)},
        )

    def publish(self, dep_id: int) -> dict[str, Any]:
        url = f"{self.base_url}/api/deposit/depositions/{dep_id}/actions/publish"
        return dict(self._request("POST", url))


def _path(url: str) -> str:
    """The URL without query strings (nothing secret is in URLs, but keep messages short)."""
    return url.split("?", 1)[0]


def _message(r: Any) -> str:
    try:
        body = r.json()
    except ValueError:
        return f"HTTP {r.status_code}: {r.text[:300]}"
    msg = body.get("message", "")
    errs = "; ".join(
        f"{e.get('field', '')}: {' '.join(e.get('messages', [])) or e.get('message', '')}"
        for e in body.get("errors", []) or []
    )
    return f"HTTP {r.status_code}: {msg}" + (f" ({errs})" if errs else "")


def upload_bundle(
    client: ZenodoClient,
    folder: str | Path,
    files: Sequence[str],
    metadata: Mapping[str, Any],
    *,
    publish: bool = False,
    confirm: Callable[[int], bool] | None = None,
) -> dict[str, Any]:
    """Upload a bundle's files to a deposition (resuming a half-finished one), then describe it.

    Parameters
    ----------
    client : ZenodoClient
    folder : path
        The bundle; the state file (deposition id and bucket) is kept there.
    files : sequence of str
        File names in ``folder`` to upload.
    metadata : mapping
        Deposit metadata (``.zenodo.json``).
    publish : bool
        Publish after uploading: only with this flag *and* ``confirm(deposition_id)`` True.
    confirm : callable, optional
        Asked before publishing (publishing cannot be undone).

    Returns
    -------
    dict
        ``deposition_id``, ``uploaded`` and ``skipped`` file names, ``published``.
    """
    root = Path(folder)
    state_path = root / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    if state.get("deposition_id"):
        dep = client.get(int(state["deposition_id"]))
        log.info("resuming deposition %s", dep["id"])
    else:
        dep = client.create()
        state = {"deposition_id": dep["id"], "bucket": dep["links"]["bucket"]}
        state_path.write_text(json.dumps(state, indent=2) + "\n")
        log.info("created deposition %s", dep["id"])
    bucket = dep["links"]["bucket"]
    present = client.bucket_files(bucket)
    uploaded, skipped = [], []
    for name in files:
        path = root / name
        if present.get(name) == md5(path):
            skipped.append(name)
            continue
        log.info("uploading %s (%.1f MB)", name, path.stat().st_size / 1e6)
        client.upload(bucket, path, name)
        uploaded.append(name)
    client.set_metadata(int(dep["id"]), metadata)
    published = False
    if publish:
        if confirm is None or not confirm(int(dep["id"])):
            log.warning("not published: publishing needs a confirmation")
        else:
            client.publish(int(dep["id"]))
            published = True
    return {
        "deposition_id": dep["id"],
        "uploaded": uploaded,
        "skipped": skipped,
        "published": published,
    }
