"""liventix.testing's webhook receiver: a request whose sender went away before its body was
all sent (a killed worker) was not received; a whole one is, once."""

from __future__ import annotations

import socket
import time

import httpx

from liventix.testing.servers import Receiver


def test_a_request_cut_short_is_not_received_and_a_whole_one_is() -> None:
    receiver = Receiver().start()
    try:
        with socket.create_connection(("127.0.0.1", receiver.port)) as cut:
            cut.sendall(
                b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                b'{"type": "cut'
            )
        whole = httpx.post(receiver.url, content=b'{"type": "whole"}', timeout=10)
        assert whole.is_success
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not receiver.received():
            time.sleep(0.01)
        assert [h.body for h in receiver.received()] == [b'{"type": "whole"}']
    finally:
        receiver.close()
