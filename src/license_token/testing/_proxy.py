"""``FaultProxy``: an HTTP proxy between any client and the emulator that breaks answers.

A real network and real middleboxes do more than refuse a call: an answer is cut
mid-body (botocore then parses an empty dict), a corporate proxy replaces it with an HTML
error page, a broken gateway sends ``200 null``, ``[]`` or bytes that are not UTF-8, a
connection drops after the service acted. Point a client's ``endpoint_url`` at the proxy
(any AWS SDK, the AWS CLI, boto3) and ``FaultProxy.inject()`` the faults, per operation::

    with LocalLicenseManager() as lm, FaultProxy(lm.endpoint_url) as proxy:
        proxy.inject(Fault.cut(), operation="CheckoutBorrowLicense")
        client = boto3.client("license-manager", endpoint_url=proxy.endpoint_url, ...)

Every fault but ``Fault.drop(forward=False)`` forwards the request first: the service acts
(takes the seat, checks it in) and only its answer is lost or replaced, which is what makes
these faults costly. The operation is read from ``X-Amz-Target`` (JSON services) or the
form's ``Action`` (STS). Standard library only.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from ._http import MAX_BODY
from ._loopback import LoopbackServer

__all__ = ["FAULTS", "Fault", "FaultProxy"]

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "content-length"}
_HTML = ("<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>"
         "{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@attrs.frozen(kw_only=True)
class Fault:
    """One way an answer goes wrong; build them with the class methods.

    Attributes:
        kind: ``"cut"``, ``"replace"``, ``"drop"`` or ``"rewrite"``.
        forward: whether the request reaches the service before the fault.
        status: the HTTP status of a replaced answer.
        body: the body of a replaced answer.
        content_type: the ``Content-Type`` of a replaced answer.
        change_request: for ``"rewrite"``, makes the body sent on from the client's.
        change_answer: for ``"rewrite"``, makes the body returned from the service's.
    """

    kind: str = attrs.field(validator=attrs.validators.in_(
        ("cut", "replace", "drop", "rewrite")))
    forward: bool = True
    status: int = 200
    body: bytes = b""
    content_type: str = "application/x-amz-json-1.1"
    change_request: Callable[[bytes], bytes] | None = None
    change_answer: Callable[[bytes], bytes] | None = None

    @classmethod
    def cut(cls) -> Fault:
        """The answer's status and headers, then half its body and a closed connection.

        The ``Content-Length`` is the full answer's, as when a connection drops mid-body.

        Returns:
            The fault.
        """
        return cls(kind="cut")

    @classmethod
    def html(cls, status: int = 400) -> Fault:
        """A proxy's HTML error page, with ``status``, instead of the service's answer.

        Args:
            status: the HTTP status, e.g. 400, 403, 502, 503.

        Returns:
            The fault.
        """
        reason = http.client.responses.get(status, "Error")
        page = _HTML.format(status=status, reason=reason).encode()
        return cls(kind="replace", status=status, body=page, content_type="text/html")

    @classmethod
    def answer(cls, data: bytes, *, status: int = 200) -> Fault:
        """Any body instead of the service's answer: ``b"null"``, ``b"[]"``, bad UTF-8.

        Args:
            data: the body to send.
            status: the HTTP status.

        Returns:
            The fault.
        """
        return cls(kind="replace", status=status, body=data)

    @classmethod
    def rewrite(cls, *, request: Callable[[bytes], bytes] | None = None,
                answer: Callable[[bytes], bytes] | None = None) -> Fault:
        """Change the request on its way to the service, or its answer on the way back:
        a service that answers beside the request, an unsigned member tampered with.

        The emulator does not check SigV4 signatures of plain credentials, so a changed
        request is served as sent.

        Args:
            request: the request body sent on, from the client's (unchanged if ``None``).
            answer: the answer body returned, from the service's (unchanged if ``None``).

        Returns:
            The fault.
        """
        return cls(kind="rewrite", change_request=request, change_answer=answer)

    @classmethod
    def drop(cls, *, forward: bool = True) -> Fault:
        """Close the connection without answering.

        Args:
            forward: send the request to the service first (its answer is lost); with
                ``False`` the service never sees it.

        Returns:
            The fault.
        """
        return cls(kind="drop", forward=forward)


FAULTS: Mapping[str, Fault] = {
    "cut": Fault.cut(),
    "html_400": Fault.html(400),
    "html_502": Fault.html(502),
    "null": Fault.answer(b"null"),
    "empty_list": Fault.answer(b"[]"),
    "bad_utf8": Fault.answer(b'{"SignedToken": "\xff\xfe\xfa"}'),
    "drop": Fault.drop(),
}
"""The faults a fault matrix goes through, by name."""


@attrs.define
class _Planned:
    fault: Fault
    operation: str | None
    count: int
    skip: int


def operation_of(headers: Mapping[str, str], body: bytes) -> str:
    """The AWS operation a request calls: ``X-Amz-Target``'s last part, or the ``Action``.

    Args:
        headers: the request headers.
        body: the request body.

    Returns:
        e.g. ``"CheckoutBorrowLicense"``; ``""`` when the request names none.
    """
    target = {k.lower(): v for k, v in headers.items()}.get("x-amz-target", "")
    if target:
        return target.rpartition(".")[2]
    return parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]


class FaultProxy(LoopbackServer):
    """Forwards every request to ``upstream`` and breaks the answers it was told to.

    Use as a context manager, or ``start()``/``stop()``.

    Args:
        upstream: the endpoint to forward to, e.g. ``LocalLicenseManager().endpoint_url``.
        region: the Region its clients name (the upstream's).
        read_timeout: seconds to wait for a client or for the upstream.
    """

    def __init__(self, upstream: str, *, region: str = "us-east-1",
                 read_timeout: float = 10.0) -> None:
        url = urlsplit(upstream)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        super().__init__(name="fault proxy", region=region, read_timeout=read_timeout)
        self.upstream = (url.hostname, url.port or 80)
        self._planned: list[_Planned] = []
        self.requests: list[tuple[str, str | None]] = []
        """Every request seen: ``(operation, fault kind or None)``."""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The handler that forwards, then breaks what it was told to."""
        return _handler_for(self)

    def inject(self, fault: Fault, *, operation: str | None = None, count: int = 1,
               skip: int = 0) -> None:
        """Break the next ``count`` answers to ``operation`` (any operation when ``None``).

        Args:
            fault: what to do to them.
            operation: e.g. ``"CheckoutBorrowLicense"``.
            count: how many answers.
            skip: how many matching requests to leave alone first.
        """
        with self._lock:
            self._planned.append(_Planned(fault=fault, operation=operation, count=count,
                                          skip=skip))

    def clear(self) -> None:
        """Forget every fault not yet applied."""
        with self._lock:
            self._planned.clear()

    def faulted(self) -> int:
        """Count the requests whose answer a fault broke so far."""
        return sum(1 for _, kind in self.requests if kind is not None)

    def calls(self, operation: str) -> int:
        """Count the requests seen for ``operation``.

        Args:
            operation: e.g. ``"CheckInLicense"``.

        Returns:
            The number of requests.
        """
        return sum(1 for op, _ in self.requests if op == operation)

    def take(self, operation: str) -> Fault | None:
        """The fault for this request, if one is planned (the handler's).

        Args:
            operation: the request's operation.

        Returns:
            The fault to apply, or ``None``.
        """
        with self._lock:
            for planned in self._planned:
                if planned.operation in (None, operation) and planned.skip:
                    planned.skip -= 1
                elif planned.operation in (None, operation):
                    planned.count -= 1
                    if planned.count <= 0:
                        self._planned.remove(planned)
                    self.requests.append((operation, planned.fault.kind))
                    return planned.fault
            self.requests.append((operation, None))
            return None

    def forward(self, method: str, path: str, headers: Mapping[str, str],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request upstream (the handler's).

        Args:
            method: the HTTP method.
            path: the request path.
            headers: the client's headers (hop-by-hop ones are not sent on).
            body: the body to send.

        Returns:
            The status, the end-to-end headers and the body of the answer.

        Raises:
            OSError: the upstream cannot be reached.
        """
        host, port = self.upstream
        connection = http.client.HTTPConnection(host, port, timeout=self._read_timeout)
        try:
            sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
            return answer.status, kept, data
        finally:
            connection.close()


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection: read the request, apply the planned fault, answer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    proxy: FaultProxy  # set by ``_handler_for``

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``proxy.requests`` instead."""

    def do_POST(self) -> None:
        """Forward the request (unless the fault drops it first), then break the answer."""
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit() or int(length) > MAX_BODY:
            self._close()
            return
        body = self.rfile.read(int(length))
        headers = dict(self.headers.items())
        fault = self.proxy.take(operation_of(headers, body))
        if fault is not None and not fault.forward:
            self._close()
            return
        if fault is not None and fault.change_request is not None:
            body = fault.change_request(body)
        try:
            status, answer_headers, data = self.proxy.forward("POST", self.path, headers, body)
        except OSError:
            self._close()
            return
        self._apply(fault, status, answer_headers, data)

    def _apply(self, fault: Fault | None, status: int, headers: list[tuple[str, str]],
               data: bytes) -> None:
        if fault is None:
            self._answer(status, headers, data)
        elif fault.kind == "rewrite":
            self._answer(status, headers,
                         data if fault.change_answer is None else fault.change_answer(data))
        elif fault.kind == "cut":
            self._answer(status, headers, data, cut=True)
        elif fault.kind == "replace":
            self._answer(fault.status, [("Content-Type", fault.content_type)], fault.body)
        else:
            self._close()

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes, *,
                cut: bool = False) -> None:
        try:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in {"server", "date"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2] if cut else data)
            self.wfile.flush()
        except OSError:
            pass
        if cut:
            self._close()

    def _close(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    """The handler class serving ``proxy``."""
    return type("FaultProxyHandler", (_ProxyHandler,),
                {"proxy": proxy, "timeout": proxy._read_timeout})
