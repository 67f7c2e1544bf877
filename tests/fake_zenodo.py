"""A fake Zenodo deposit API on loopback, for the upload tests (the few endpoints used)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeZenodo:
    """Depositions and buckets in memory; failures can be injected per file name."""

    def __init__(self, token: str = "secret-token") -> None:
        self.token = token
        self.depositions: dict[int, dict[str, Any]] = {}
        self.buckets: dict[str, dict[str, bytes]] = {}
        self.puts: list[str] = []  # every upload request received (file names)
        self.fail: dict[str, int] = {}  # file name -> how many more uploads answer 503
        self.drop: set[str] = set()  # file names whose upload drops the connection
        self.auth_seen: list[str] = []  # every Authorization header received
        self.bucket_base: str | None = None  # links.bucket on another host (default: this one)
        self.html_on_create = False  # answer a new deposition with a 200 HTML page
        self.no_links = False  # answer a new deposition without links
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeZenodo:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def _send(self, code: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _auth(self) -> bool:
                fake.auth_seen.append(str(self.headers.get("Authorization")))
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._send(
                        401,
                        {
                            "status": 401,
                            "message": "The server could not verify "
                            "that you are authorized to access the URL requested.",
                        },
                    )
                    return False
                return True

            def do_POST(self) -> None:
                if not self._auth():
                    return
                self._body()
                if self.path == "/api/deposit/depositions" and fake.html_on_create:
                    page = b"<html>Please log in</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return None
                if self.path == "/api/deposit/depositions":
                    dep_id = len(fake.depositions) + 1
                    bucket = f"{fake.bucket_base or fake.url}/api/files/b{dep_id}"
                    fake.buckets[f"b{dep_id}"] = {}
                    fake.depositions[dep_id] = {
                        "id": dep_id,
                        "links": {} if fake.no_links else {"bucket": bucket},
                        "metadata": {},
                        "submitted": False,
                    }
                    return self._send(201, fake.depositions[dep_id])
                m = re.fullmatch(r"/api/deposit/depositions/(\d+)/actions/publish", self.path)
                if m and int(m.group(1)) in fake.depositions:
                    dep = fake.depositions[int(m.group(1))]
                    if not dep["metadata"].get("title"):
                        return self._send(
                            400,
                            {
                                "status": 400,
                                "message": "Validation error.",
                                "errors": [
                                    {"field": "metadata.title", "messages": ["Missing data."]}
                                ],
                            },
                        )
                    dep["submitted"] = True
                    return self._send(202, dep)
                self._send(404, {"status": 404, "message": "not found"})

            def do_GET(self) -> None:
                if not self._auth():
                    return
                m = re.fullmatch(r"/api/deposit/depositions/(\d+)", self.path)
                if m and int(m.group(1)) in fake.depositions:
                    return self._send(200, fake.depositions[int(m.group(1))])
                m = re.fullmatch(r"/api/files/(b\d+)", self.path)
                if m and m.group(1) in fake.buckets:
                    contents = [
                        {"key": k, "size": len(v), "checksum": "md5:" + hashlib.md5(v).hexdigest()}
                        for k, v in fake.buckets[m.group(1)].items()
                    ]
                    return self._send(200, {"contents": contents})
                self._send(404, {"status": 404, "message": "PID does not exist."})

            def do_PUT(self) -> None:
                if not self._auth():
                    return
                m = re.fullmatch(r"/api/files/(b\d+)/(.+)", self.path)
                if m and m.group(1) in fake.buckets:
                    name = m.group(2)
                    fake.puts.append(name)
                    if name in fake.drop:
                        fake.drop.discard(name)
                        self.rfile.read(10)  # read a little, then the line goes dead
                        self.connection.close()
                        return
                    data = self._body()
                    if fake.fail.get(name, 0) > 0:
                        fake.fail[name] -= 1
                        return self._send(503, {"status": 503, "message": "busy"})
                    fake.buckets[m.group(1)][name] = data
                    return self._send(
                        201,
                        {
                            "key": name,
                            "size": len(data),
                            "checksum": "md5:" + hashlib.md5(data).hexdigest(),
                        },
                    )
                m = re.fullmatch(r"/api/deposit/depositions/(\d+)", self.path)
                if m and int(m.group(1)) in fake.depositions:
                    body = json.loads(self._body() or b"{}")
                    meta = body.get("metadata", {})
                    if meta.get("upload_type") not in ("dataset", "software"):
                        return self._send(
                            400,
                            {
                                "status": 400,
                                "message": "Validation error.",
                                "errors": [
                                    {
                                        "field": "metadata.upload_type",
                                        "messages": ["Invalid value."],
                                    }
                                ],
                            },
                        )
                    fake.depositions[int(m.group(1))]["metadata"] = meta
                    return self._send(200, fake.depositions[int(m.group(1))])
                self._send(404, {"status": 404, "message": "not found"})

        return H
