"""The HTTP side of the emulator: AWS JSON 1.1 (and STS query) requests in, answers out.

Defensive, as a server on a shared machine must be: ``Content-Length`` is required to be
one plain decimal number no larger than ``MAX_BODY`` (anything else is answered 400 or 413
and the connection closed: where the body ends is unknown), a silent connection is closed
after the read timeout, at most ``max_workers`` connections are served at once (more are
closed unanswered), and any body that is not a JSON object gets a clean 400.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Protocol

__all__ = ["MAX_BODY", "BoundedHTTPServer", "JsonService", "ServiceError", "handler_for"]

MAX_BODY = 1024 * 1024
_DECIMAL = re.compile(r"[0-9]{1,16}", re.ASCII)
_FORM = "application/x-www-form-urlencoded"


class ServiceError(Exception):
    """An AWS error as the service sends it: ``__type``, message, HTTP status, members."""

    def __init__(self, error_type: str, message: str, status: int = 400,
                 **extra: str) -> None:
        super().__init__(message)
        self.error_type, self.status, self.extra = error_type, status, extra


class JsonService(Protocol):
    """What the handler needs of the service behind it."""

    @property
    def latency(self) -> float: ...

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def authenticate(self, method: str, path: str, headers: dict[str, str], body: bytes,
                     target: str) -> None: ...

    def handle_query(self, body: bytes) -> tuple[int, bytes]: ...

    def track(self, connection: socket.socket) -> None: ...

    def untrack(self, connection: socket.socket) -> None: ...


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_workers`` of them; the rest are closed."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog: a burst of clients is not dropped

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], *,
                 max_workers: int) -> None:
        if ":" in address[0]:  # an IPv6 address, e.g. ::1
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_workers)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the bound address (an IPv6 host in brackets)."""
        host, port = str(self.server_address[0]), self.server_address[1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self.shutdown()
        self.server_close()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _error(error_type: str, message: str) -> dict[str, Any]:
    return {"__type": error_type, "message": message}


class _Handler(BaseHTTPRequestHandler):
    """Serves ``emulator`` over AWS JSON 1.1 (and STS's query protocol); one per connection."""

    emulator: ClassVar[JsonService]
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms ACK wait

    def setup(self) -> None:
        super().setup()
        self.emulator.track(self.connection)

    def finish(self) -> None:
        self.emulator.untrack(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the emulator's ``requests`` instead."""

    def _body(self) -> bytes | None:
        """The body, or ``None`` once an error has been answered."""
        lengths = self.headers.get_all("Content-Length") or []
        if self.headers.get("Transfer-Encoding") is not None or len(set(lengths)) > 1:
            self._refuse(400, "one Content-Length and no Transfer-Encoding, please")
            return None
        text = lengths[0].strip() if lengths else "0"
        if _DECIMAL.fullmatch(text) is None:
            self._refuse(400, f"Content-Length {text[:20]!r} is not a decimal number")
            return None
        if int(text) > MAX_BODY:
            self._refuse(413, f"a body of at most {MAX_BODY} bytes, please")
            return None
        raw = self.rfile.read(int(text))
        if len(raw) < int(text):  # the client went away mid-body
            self.close_connection = True
            return None
        return raw

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """Malformed HTTP (garbage request line, unknown method): a JSON error with a
        status line, never the standard library's HTML or an HTTP/0.9 bare body."""
        self.request_version = self.protocol_version
        self._refuse(code, message or "malformed request")

    def _refuse(self, status: int, message: str) -> None:
        self.close_connection = True
        self._send(status, _error("SerializationException", message), {
            "x-amzn-ErrorType": "SerializationException", "Connection": "close"})

    def do_POST(self) -> None:
        try:
            raw = self._body()
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if raw is None:
            return
        if self.emulator.latency:
            time.sleep(self.emulator.latency)
        if self.headers.get("Content-Type", "").startswith(_FORM):
            status, answer = self.emulator.handle_query(raw)  # STS: the query protocol
            self._send(status, answer, {}, content_type="text/xml")
            return
        try:
            target = self.headers.get("X-Amz-Target", "")
            self.emulator.authenticate(self.command, self.path, dict(self.headers.items()), raw,
                                  target)
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ServiceError("SerializationException", "body must be an object")
            result = self.emulator.handle(target, body)
            self._send(200, result, {})
        except ConnectionAbortedError:
            self.close_connection = True
        except ServiceError as exc:
            doc = {"__type": exc.error_type, "message": str(exc), **exc.extra}
            self._send(exc.status, doc, {"x-amzn-ErrorType": exc.error_type})
        except (ValueError, RecursionError):
            self._send(400, _error("SerializationException", "invalid JSON"),
                       {"x-amzn-ErrorType": "SerializationException"})
        except Exception as exc:  # a bug in the emulator: answer as the service would
            self._send(500, _error("ServerInternalException", repr(exc)),
                       {"x-amzn-ErrorType": "ServerInternalException"})

    def _send(self, status: int, doc: dict[str, Any] | bytes, headers: dict[str, str], *,
              content_type: str = "application/x-amz-json-1.1") -> None:
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (timeout) or the emulator was stopped
            self.close_connection = True


def handler_for(emulator: JsonService, read_timeout: float = 10.0,
                ) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``emulator`` over AWS JSON 1.1.

    Args:
        emulator: the service behind the handler.
        read_timeout: seconds a silent connection is kept open.

    Returns:
        A ``BaseHTTPRequestHandler`` subclass for ``BoundedHTTPServer``.
    """
    return type("Handler", (_Handler,), {"emulator": emulator, "timeout": read_timeout})
