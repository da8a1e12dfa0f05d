"""A service on a loopback port: started, stopped and addressed the same way by the
emulator and the fault proxy; either makes real boto3 clients for itself."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from ._http import BoundedHTTPServer

__all__ = ["DUMMY_ACCESS_KEY_ID", "DUMMY_SECRET_ACCESS_KEY", "LoopbackServer"]

DUMMY_ACCESS_KEY_ID = "AKIDEMULATOR"
"""Credentials for clients of the emulator: it accepts any it did not issue (unless
``identity.require_issued_credentials``), but AWS SDKs refuse to call without some."""
DUMMY_SECRET_ACCESS_KEY = "emulator-secret"  # noqa: S105

_Server = TypeVar("_Server", bound="LoopbackServer")


class LoopbackServer:
    """Serves ``handler()`` from a background thread. Use as a context manager, or
    ``start()``/``stop()``.

    Args:
        name: the serving thread's name.
        region: the Region its clients name.
        max_workers: connections served at once; more are closed unanswered.
        read_timeout: seconds a connection may stay silent before it is closed.
    """

    def __init__(self, *, name: str, region: str = "us-east-1", max_workers: int = 32,
                 read_timeout: float = 10.0) -> None:
        self.region = region
        """The Region this service plays."""
        self._name, self._max_workers, self._read_timeout = name, max_workers, read_timeout
        self._lock = threading.RLock()
        self._server: BoundedHTTPServer | None = None
        self._connections: set[socket.socket] = set()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class serving this service (each subclass has its own)."""
        raise NotImplementedError

    def start(self: _Server, *, host: str = "127.0.0.1", port: int = 0) -> _Server:
        """Listen on ``host``, serving from a background thread.

        Args:
            host: The address to bind: loopback by default. The service authenticates no
                one: bind another address only on a network you trust.
            port: The TCP port; ``0`` picks a free one (``endpoint_url`` tells which).

        Returns:
            This service, for chaining.

        Raises:
            OSError: the address cannot be bound (in use, not this machine's).
        """
        server = BoundedHTTPServer((host, port), self.handler(), max_workers=self._max_workers)
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), name=self._name,
                         daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every open (keep-alive) connection: the service is gone."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            for connection in self._connections:
                try:
                    connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._connections.clear()

    def __enter__(self: _Server) -> _Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``endpoint_url=`` or ``AWS_ENDPOINT_URL``.

        Raises:
            RuntimeError: the service is not running.
        """
        if self._server is None:
            raise RuntimeError(f"the {self._name} is not running")
        return self._server.url

    def track(self, connection: socket.socket) -> None:
        """Remember an open connection, to cut it on ``stop()`` (the HTTP handler's).

        Args:
            connection: the client's socket.
        """
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection that closed.

        Args:
            connection: the client's socket.
        """
        with self._lock:
            self._connections.discard(connection)

    def client(self, service: str = "license-manager", **config: Any) -> Any:
        """A real boto3 client for this service, with dummy credentials.

        Args:
            service: ``"license-manager"``, ``"kms"`` or ``"sts"``.
            **config: ``botocore.config.Config`` options (retries: ``standard``, 5 attempts).

        Returns:
            The client.

        Raises:
            ImportError: boto3 is not installed (it comes with the ``[aws]`` extra).
        """
        try:
            import boto3
            from botocore.config import Config
        except ImportError as missing:
            raise ImportError(f"{type(self).__name__}.client() needs boto3 ({missing}): "
                              "install license-token[aws]") from missing

        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=self.region,
            aws_access_key_id=DUMMY_ACCESS_KEY_ID, aws_secret_access_key=DUMMY_SECRET_ACCESS_KEY,
            config=Config(**({"retries": {"mode": "standard", "total_max_attempts": 5}} | config)),
        )
