"""HTTP/1.1 by hand over a socket, for what an HTTP client will not do: announce a body and
never send it, or stream a chunked body and stop without its last chunk. The answer must come
anyway, which shows the server refused without reading (or waiting for) the rest."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RawResponse:
    """A response read off the socket."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed before answering: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return RawResponse(status, headers, rest[:length])


def request(
    base_url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Iterable[bytes] = (),
    *,
    chunked: bool = False,
    timeout: float = 20.0,
) -> RawResponse:
    """Send the request line and `headers`, then each piece of `body` (as a chunk when
    `chunked`, with no last chunk: the body never ends), then read the answer."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        for piece in body:
            if chunked:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                sock.sendall(piece)
        return _read_response(sock)
