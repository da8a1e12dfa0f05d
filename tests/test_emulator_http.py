"""The emulator's HTTP server under hostile or broken clients: raw sockets, no boto3."""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from license_token.testing import LocalLicenseManager

TARGET = b"X-Amz-Target: AWSLicenseManager.CheckInLicense\r\n"


@pytest.fixture
def lm() -> Iterator[LocalLicenseManager]:
    with LocalLicenseManager(read_timeout=0.5, max_workers=4) as emulator:
        yield emulator


def _connect(lm: LocalLicenseManager) -> socket.socket:
    host, port = lm.endpoint_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _exchange(lm: LocalLicenseManager, data: bytes,
              wait_close: bool = True) -> tuple[int, bytes, bool]:
    """Send ``data``; the status, the body, and (if waited for) whether the server closed."""
    with _connect(lm) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += sock.recv(65536)
        closed = wait_close and sock.recv(1) == b""  # the server's read timeout is 0.5 s
        return int(head.split(b" ")[1]), body, closed


def _post(headers: bytes, body: bytes = b"") -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\n" + TARGET + headers + b"\r\n" + body


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1e3", b"+5", b" ", b"\xd9\xa3",
                                    b"99999999999999999999"])
def test_a_content_length_that_is_not_a_plain_number_is_a_clean_400(
        lm: LocalLicenseManager, length: bytes) -> None:
    """``-1`` used to bypass the body cap (a 300 MiB body was read); text raised."""
    status, body, closed = _exchange(lm, _post(b"Content-Length: " + length + b"\r\n",
                                               b"{}" * 1000))
    assert status == 400 and closed
    assert json.loads(body)["__type"] == "SerializationException"
    assert lm.requests == []


def test_a_body_over_the_cap_is_refused_unread(lm: LocalLicenseManager) -> None:
    status, _, closed = _exchange(lm, _post(b"Content-Length: 314572800\r\n", b"{"))
    assert status == 413 and closed and lm.requests == []


def test_conflicting_lengths_or_chunked_bodies_are_refused(lm: LocalLicenseManager) -> None:
    for headers in (b"Content-Length: 2\r\nContent-Length: 3\r\n",
                    b"Transfer-Encoding: chunked\r\n"):
        status, _, closed = _exchange(lm, _post(headers, b"{}"))
        assert status == 400 and closed
    assert lm.requests == []


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b"\xff\xfe", b"[" * 100_000,
                                  b'{"a": NaN'])
def test_a_body_that_is_not_a_json_object_is_a_clean_400(lm: LocalLicenseManager,
                                                         body: bytes) -> None:
    status, answer, _ = _exchange(
        lm, _post(b"Content-Length: %d\r\n" % len(body), body), wait_close=False)
    assert status == 400
    assert json.loads(answer)["__type"] == "SerializationException"


def test_a_garbage_request_line_is_a_clean_400(lm: LocalLicenseManager) -> None:
    status, _, closed = _exchange(lm, b"\x00\x01 garbage \xff\r\n\r\n")
    assert status == 400 and closed


def test_a_silent_connection_is_closed_after_the_read_timeout(
        lm: LocalLicenseManager) -> None:
    with _connect(lm) as sock:
        sock.sendall(_post(b"Content-Length: 100\r\n", b"{"))  # and never the rest
        assert sock.recv(1) == b""  # closed by the server (our own timeout is 10 s)
    assert lm.requests == []


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock``: an end of stream, or a reset (closed unread)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_a_reset_counts_as_closed_by_the_server() -> None:
    """A server that closes a connection with unread data sends a reset, not an end."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname(), timeout=10) as client:
            accepted, _ = server.accept()
            client.sendall(b"unread")
            accepted.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            accepted.close()
            assert _closed_by_server(client) is True
        with socket.create_connection(server.getsockname(), timeout=10) as client:
            accepted, _ = server.accept()
            accepted.close()
            assert _closed_by_server(client) is True
        with socket.create_connection(server.getsockname(), timeout=10) as client:
            accepted, _ = server.accept()
            accepted.sendall(b"H")
            assert _closed_by_server(client) is False
            accepted.close()


@pytest.fixture
def patient() -> Iterator[LocalLicenseManager]:
    """Four workers that wait long for a body: the refused connections are the extra ones."""
    with LocalLicenseManager(read_timeout=60, max_workers=4) as emulator:
        yield emulator


def test_worker_threads_are_bounded(patient: LocalLicenseManager) -> None:
    """300 half-sent requests used to hold 302 threads; now at most ``max_workers``."""
    lm = patient
    before = threading.active_count()
    socks = [_connect(lm) for _ in range(40)]
    try:
        for sock in socks:
            sock.sendall(_post(b"Content-Length: 100\r\n", b"{"))
        refused: set[socket.socket] = set()
        # a safety net only: the loop ends as soon as the 36 are refused, and well before
        # the served four's 60 s read timeout would close them too
        deadline = time.monotonic() + 30
        while len(refused) < 36 and time.monotonic() < deadline:
            ready, _, _ = select.select([s for s in socks if s not in refused], [], [], 0.1)
            refused.update(s for s in ready if _closed_by_server(s))
        assert threading.active_count() - before <= 4  # the served wait for their bodies
        assert len(refused) == 36
    finally:
        for sock in socks:
            sock.close()
    client = lm.client(retries={"mode": "standard", "total_max_attempts": 10})
    with pytest.raises(client.exceptions.ResourceNotFoundException):  # served again
        client.check_in_license(LicenseConsumptionToken="t")
