"""A client for Zenodo's REST deposit API: create, upload (resumable), describe, publish.

Endpoints used: ``POST /api/deposit/depositions``, ``GET /api/deposit/depositions/<id>``,
``GET <bucket>`` (the files already there, with md5 checksums), ``PUT <bucket>/<name>``,
``PUT /api/deposit/depositions/<id>`` (metadata) and
``POST /api/deposit/depositions/<id>/actions/publish``.  The token is sent as a bearer header
and never logged or shown.  5xx answers and timeouts are retried with exponential backoff; a
half-finished upload resumes from a state file (one per Zenodo host and bundle sha256, kept
outside the bundle's DVC output) without uploading a file twice (files whose md5 is already in
the bucket are skipped).  The token only ever goes to the configured host.
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


class ZenodoError(NnsimError):
    """Zenodo refused a request (its own message included) or kept failing.

    ``status`` is the HTTP status of a refusal (None for other failures).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()


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

        if _origin(url) != _origin(self.base_url):
            # the token is Zenodo's: a link to another host never gets it
            raise ZenodoError(
                f"{method} {_path(url)}: the address is on {_origin(url)}, not on the "
                f"configured Zenodo host {_origin(self.base_url)} (release.zenodo.base_url); "
                "the token is not sent there. Check release.zenodo.base_url, or report the "
                "deposition's links to Zenodo."
            )
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
                    return _json(r, method, url, self.base_url)
                if r.status_code < 500:
                    raise ZenodoError(
                        f"Zenodo refused {method} {_path(url)}: {_message(r)}", r.status_code
                    )
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
        for f in res.get("contents", []) or []:
            if isinstance(f, dict) and "key" in f:
                out[str(f["key"])] = str(f.get("checksum", "")).removeprefix("md5:")
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


def _json(r: Any, method: str, url: str, base_url: str) -> Any:
    """The JSON body of a 2xx reply ({} when empty), or an error saying what came instead."""
    if not r.content:
        return {}
    try:
        body = r.json()
    except ValueError:
        kind = r.headers.get("Content-Type", "no content type")
        raise ZenodoError(
            f"{method} {_path(url)}: HTTP {r.status_code} but not JSON ({kind}: "
            f"{r.text[:120]!r}). Is release.zenodo.base_url ({base_url}) Zenodo's API (e.g. "
            "https://sandbox.zenodo.org), not a login page or a proxy?"
        ) from None
    if not isinstance(body, dict):
        raise ZenodoError(f"{method} {_path(url)}: expected a JSON object, got {body!r:.120}.")
    return body


def bucket_of(dep: Mapping[str, Any]) -> str:
    """The deposition's file bucket (``links.bucket``), or an error naming the deposition."""
    links = dep.get("links")
    bucket = links.get("bucket") if isinstance(links, dict) else None
    if not isinstance(bucket, str) or not bucket:
        raise ZenodoError(
            f"deposition {dep.get('id', '?')}: Zenodo's reply has no links.bucket (a published "
            "or locked deposition has none). Upload to a new draft: delete the upload state "
            "file named below, or open the deposition on Zenodo and choose 'New version'."
        )
    return bucket


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


def state_path(state_dir: str | Path, base_url: str, sha256: str) -> Path:
    """Where the upload state of a bundle lives: one file per Zenodo host and bundle sha256.

    Kept outside the bundle's folder (a DVC output that ``dvc repro export`` replaces), so
    a rebuilt, identical bundle resumes its deposition and a changed one gets a new one.
    """
    host = _origin(base_url).split("://", 1)[-1].replace(":", "_") or "zenodo"
    return Path(state_dir) / f"{host}-{sha256}.json"


def read_state(path: Path) -> dict[str, Any]:
    """A state file's ``deposition_id`` (and bucket), or ``{}`` when there is none."""
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        dep_id = int(state["deposition_id"])
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise NnsimError(
            f"{path}: not an upload state file ({type(exc).__name__}: {exc}). Delete it to "
            "start a new deposition (a draft made before stays on Zenodo; delete it there)."
        ) from None
    return {**state, "deposition_id": dep_id}


def upload_bundle(
    client: ZenodoClient,
    folder: str | Path,
    files: Sequence[str],
    metadata: Mapping[str, Any],
    *,
    state_file: str | Path,
    publish: bool = False,
    confirm: Callable[[int], bool] | None = None,
) -> dict[str, Any]:
    """Upload a bundle's files to a deposition (resuming a half-finished one), then describe it.

    Parameters
    ----------
    client : ZenodoClient
    folder : path
        The bundle.
    files : sequence of str
        File names in ``folder`` to upload.
    metadata : mapping
        Deposit metadata (``.zenodo.json``).
    state_file : path
        The upload state (deposition id and bucket), from :func:`state_path`.
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
    spath = Path(state_file)
    state = read_state(spath)
    if state:
        try:
            dep = client.get(state["deposition_id"])
        except ZenodoError as exc:
            if exc.status not in (404, 410):
                raise
            raise ZenodoError(
                f"{spath} names deposition {state['deposition_id']}, which {client.base_url} "
                "does not know (deleted, or made on another Zenodo host). Delete the file to "
                "start a new deposition.",
                exc.status,
            ) from None
        log.info("resuming deposition %s", dep.get("id"))
    else:
        dep = client.create()
        if "id" not in dep:
            raise ZenodoError(f"Zenodo's reply to creating a deposition has no id: {dep!r:.200}")
        state = {"deposition_id": dep["id"], "bucket": bucket_of(dep)}
        spath.parent.mkdir(parents=True, exist_ok=True)
        spath.write_text(json.dumps(state, indent=2) + "\n")
        log.info("created deposition %s (state in %s)", dep["id"], spath)
    bucket = bucket_of(dep)
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
