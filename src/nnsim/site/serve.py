"""``nnsim site serve``: the results site on a local web server, for convenience.

The site needs no server (it opens from disk); this one serves exactly the site folder: no
path outside it (``..`` and symbolic links leading out are refused with 404), no folder
listings, loopback unless ``--allow-remote``, and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import functools
import logging
import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from nnsim.errors import InputError
from nnsim.net import check_host

log = logging.getLogger("nnsim.site")


class SiteHandler(SimpleHTTPRequestHandler):
    """Serves files of one folder only (see the module's docstring)."""

    def __init__(self, *args: Any, root: Path, **kwargs: Any) -> None:
        self.root = root
        super().__init__(*args, directory=str(root), **kwargs)

    def send_head(self) -> Any:
        rel = unquote(urlsplit(self.path).path)
        parts = [p for p in rel.split("/") if p]
        if any(p in ("..", ".") or "\\" in p or "\0" in p for p in parts):
            self.send_error(404, "not found")
            return None
        target = (self.root / Path(*parts)) if parts else self.root
        try:
            real = target.resolve(strict=True)
        except (OSError, RuntimeError):
            self.send_error(404, "not found")
            return None
        if not real.is_relative_to(self.root):
            self.send_error(404, "not found")
            return None
        if real.is_dir() and not (real / "index.html").is_file():
            self.send_error(404, "not found")  # no listings
            return None
        return super().send_head()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


def make_server(
    site: str | Path, host: str, port: int, *, allow_remote: bool
) -> ThreadingHTTPServer:
    """A server of the site folder (not started).

    Raises
    ------
    ConfigError
        A non-loopback ``host`` without ``allow_remote``.
    InputError
        ``site`` is not a built site (no ``index.html``), or the port is taken.
    """
    check_host(host, allow_remote, setting="site.serve.host")
    root = Path(site).resolve()
    if not (root / "index.html").is_file():
        raise InputError(
            f"{root} is not a results site (no index.html); build it with `dvc repro site` "
            "(or make demo), or pass --dir."
        )
    handler = functools.partial(SiteHandler, root=root)
    try:
        return ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise InputError(
            f"cannot listen on {host}:{port} ({os.strerror(exc.errno or 0) or exc}); pass "
            "--port with a free port or set site.serve.port."
        ) from exc


def serve(site: str | Path, host: str, port: int, *, allow_remote: bool) -> None:
    """Serve the site until Ctrl-C."""
    server = make_server(site, host, port, allow_remote=allow_remote)
    print(f"results site on http://{host}:{server.server_address[1]}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped.")
    finally:
        server.server_close()
