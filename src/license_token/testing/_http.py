"""The HTTP side of the emulator: AWS JSON 1.1 requests in, JSON or AWS errors out."""

from __future__ import annotations

import json
import socket
import time
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

__all__ = ["JsonService", "ServiceError", "handler_for"]

_MAX_BODY = 1024 * 1024


class ServiceError(Exception):
    """An AWS error as the service sends it: ``__type``, message, HTTP status."""

    def __init__(self, error_type: str, message: str, status: int = 400,
                 **extra: str) -> None:
        super().__init__(message)
        self.error_type, self.status, self.extra = error_type, status, extra


class JsonService(Protocol):
    """What the handler needs of the service behind it."""

    @property
    def latency(self) -> float: ...

    def handle(self, target: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def track(self, connection: socket.socket) -> None: ...

    def untrack(self, connection: socket.socket) -> None: ...


def handler_for(emulator: JsonService) -> type[BaseHTTPRequestHandler]:
    """A request handler class serving ``emulator`` over AWS JSON 1.1."""
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            emulator.track(self.connection)

        def finish(self) -> None:
            emulator.untrack(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read ``emulator.requests`` instead."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(min(length, _MAX_BODY))
            if emulator.latency:
                time.sleep(emulator.latency)
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ServiceError("SerializationException", "body must be an object")
                result = emulator.handle(self.headers.get("X-Amz-Target", ""), body)
                self._send(200, result, {})
            except ConnectionAbortedError:
                self.close_connection = True
            except ServiceError as exc:
                doc = {"__type": exc.error_type, "message": str(exc), **exc.extra}
                self._send(exc.status, doc, {"x-amzn-ErrorType": exc.error_type})
            except ValueError:
                doc = {"__type": "SerializationException", "message": "invalid JSON"}
                self._send(400, doc, {"x-amzn-ErrorType": "SerializationException"})
            except Exception as exc:  # a bug in the emulator: answer as the service would
                doc = {"__type": "ServerInternalException", "message": repr(exc)}
                self._send(500, doc, {"x-amzn-ErrorType": "ServerInternalException"})

        def _send(self, status: int, doc: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for name, value in headers.items():
                self.send_header(name, value)
            try:
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout) or the emulator was stopped
                self.close_connection = True

    return Handler
