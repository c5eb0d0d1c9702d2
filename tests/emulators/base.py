"""A small reusable loopback HTTP emulator.

`Emulator` runs an `http.server.ThreadingHTTPServer` on 127.0.0.1 (port 0) in a daemon thread, routes
requests by method and path regex to handler methods, records every request for assertions, checks the
provider credential, and can inject faults (error statuses with Retry-After, malformed bodies, delays).

Subclasses register routes in `__init__` with `self.route("GET", r"/v1/things/(?P<id>[^/]+)", self.get)`;
a handler takes `(request, **path_groups)` and returns a `Reply` (see `json_reply`) or raises
`EmulatorError` to answer in the provider's error shape.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class RecordedRequest:
    """One request as the emulator received it."""

    method: str
    path: str  # without the query string
    query: list[tuple[str, str]]  # in order, repeated names kept
    headers: dict[str, str]  # names lowercased
    body: bytes
    json: Any = None  # parsed JSON body, if it was JSON
    form: dict[str, str] | None = None  # parsed form body, if it was form-encoded

    def query_list(self, name: str) -> list[str]:
        """All values of an array parameter, accepting both `name[]=a&name[]=b` and `name=a&name=b`."""
        return [v for k, v in self.query if k in (name, name + "[]")]

    def query_value(self, name: str, default: str | None = None) -> str | None:
        """The last value of a scalar parameter."""
        values = [v for k, v in self.query if k == name]
        return values[-1] if values else default


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None  # send only this many bytes of the body, then close the connection


def json_reply(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})


def text_reply(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


class EmulatorError(Exception):
    """Raised inside a handler to answer with the provider's error shape."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Fault:
    remaining: int
    status: int | None
    retry_after: float | None
    malformed: bool
    truncated: bool
    delay: float | None
    path_prefix: str | None
    message: str | None
    code: str | None


# Helpers shared by the provider emulators -----------------------------------------------------------


def encode_page_token(state: dict[str, Any]) -> str:
    """An opaque-looking cursor (clients must pass it back verbatim)."""
    return "page_" + base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def decode_page_token(token: str) -> dict[str, Any]:
    if not token.startswith("page_"):
        raise EmulatorError(400, "Invalid page token", "invalid_page")
    raw = token[len("page_") :]
    try:
        return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError as e:
        raise EmulatorError(400, "Invalid page token", "invalid_page") from e


def as_timestamp(value: datetime | int | float) -> int:
    """Unix seconds from an aware datetime or a number."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("use aware datetimes")
        return int(value.timestamp())
    return int(value)


def rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def int_param(request: RecordedRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_value(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise EmulatorError(400, f"Invalid '{name}': {raw!r} is not an integer", "invalid_value") from e
    if not low <= value <= high:
        raise EmulatorError(400, f"Invalid '{name}': must be between {low} and {high}", "invalid_value")
    return value


def bucket_page(start: int, end: int, width: int, limit: int, token: str | None) -> tuple[list[int], str | None]:
    """Bucket starts for one report page and the token of the next page (None on the last page).

    Buckets snap down to whole minutes/hours/days in UTC; `limit` counts buckets, empty ones included.
    """
    first = int(decode_page_token(token)["bucket"]) if token else start - start % width
    starts = list(range(first, end, width))
    page, rest = starts[:limit], starts[limit:]
    return page, encode_page_token({"bucket": rest[0]}) if rest else None


BUCKET_SECONDS = {"1m": 60, "1h": 3600, "1d": 86400}
BUCKET_LIMITS = {"1m": (60, 1440), "1h": (24, 168), "1d": (7, 31)}  # (default, max) buckets per page


class Emulator:
    """Base class: server lifecycle, routing, request log, auth hook and fault injection."""

    base_path = ""  # what `url` adds to the origin, mirroring the provider's default base URL
    malformed_body = b'{"object": "page", "data": [{"start_'  # what fail_next(malformed=True) sends
    credential = ""
    name = "emulator"

    def __init__(self, credential: str | None = None) -> None:
        if credential is not None:
            self.credential = credential
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of handler crashes (answered with 500)
        self.lock = threading.RLock()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = []
        self._faults: list[Fault] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> Emulator:
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping in an injected delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        """The base URL to give an adapter (origin + the provider's base path)."""
        return self.origin + self.base_path

    # --- routing --------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Callable[..., Reply]) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"/?"), handler))

    def override(self, method: str, pattern: str, handler: Callable[..., Reply]) -> None:
        """Route ahead of the built-in ones, e.g. to answer a shape the real API should never send."""
        self._routes.insert(0, (method.upper(), re.compile(pattern + r"/?"), handler))

    def check_auth(self, request: RecordedRequest) -> None:
        """Raise EmulatorError(401, ...) when the credential is missing or wrong. Override per provider."""

    def error_reply(self, status: int, message: str, code: str | None = None) -> Reply:
        """The provider's error body. Override per provider."""
        return json_reply({"error": {"message": message, "code": code}}, status)

    # --- faults ---------------------------------------------------------------------------------------
    def fail_next(
        self,
        n: int = 1,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        malformed: bool = False,
        truncated: bool = False,
        delay: float | None = None,
        path_prefix: str | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        """Make the next `n` matching requests misbehave.

        - `status=429, retry_after=1`: answer that status in the provider's error shape (+ Retry-After);
        - `malformed=True`: answer 200 with a truncated, non-JSON body;
        - `truncated=True`: answer the real page but cut the connection half way through its body (the
          Content-Length promises more than arrives);
        - `delay=seconds`: sleep before answering (then answer normally unless status/malformed is set);
        - nothing given: answer 500.
        `path_prefix` limits the fault to paths starting with it (with or without the base path);
        `message`/`code` override the error body (e.g. `code="insufficient_quota"`).
        """
        if status is None and not malformed and not truncated and delay is None:
            status = 500
        with self.lock:
            self._faults.append(Fault(n, status, retry_after, malformed, truncated, delay, path_prefix, message, code))

    def faults_left(self) -> int:
        """How many injected faults no request has met yet."""
        with self.lock:
            return sum(fault.remaining for fault in self._faults)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                prefix = fault.path_prefix
                if prefix is None or path.startswith(prefix) or path.startswith(self.base_path + prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # --- request log helpers --------------------------------------------------------------------------
    def requests_to(self, method: str | None = None, path: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and path (exact, with or without the base path)."""
        with self.lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method.upper())
                and (path is None or r.path in (path, self.base_path + path))
            ]

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    # --- dispatch -------------------------------------------------------------------------------------
    def handle(self, request: RecordedRequest) -> Reply:
        with self.lock:
            self.requests.append(request)
        fault = self._take_fault(request.path)
        if fault is not None:
            if fault.delay:
                self._stopping.wait(fault.delay)
            if fault.status is not None:
                reply = self.error_reply(fault.status, fault.message or self.fault_message(fault.status), fault.code)
                if fault.retry_after is not None:
                    reply.headers["Retry-After"] = f"{fault.retry_after:g}"
                return reply
            if fault.malformed:
                return Reply(200, self.malformed_body, {"Content-Type": "application/json"})
        reply = self._answer(request)
        if fault is not None and fault.truncated:
            reply.cut_at = len(reply.body) // 2
        return reply

    def _answer(self, request: RecordedRequest) -> Reply:
        with self.lock:
            try:
                self.check_auth(request)
                return self.dispatch(request)
            except EmulatorError as e:
                return self.error_reply(e.status, e.message, e.code)
            except Exception:  # noqa: BLE001 - a crashing handler answers 500 and is kept for debugging
                self.errors.append(traceback.format_exc())
                return self.error_reply(500, "Emulator handler crashed")

    def dispatch(self, request: RecordedRequest) -> Reply:
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method == request.method:
                return handler(request, **match.groupdict())
        if path_matched:
            raise EmulatorError(405, f"Method {request.method} not allowed on {request.path}")
        raise EmulatorError(404, f"Unknown path {request.path}", "not_found")

    def fault_message(self, status: int) -> str:
        if status == 429:
            return "Rate limit exceeded"
        if status >= 500:
            return "Internal server error"
        return f"Injected error {status}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout test) leaves a broken pipe behind; that is expected.
        pass


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        content_type = headers.get("content-type", "")
        parsed_json = None
        form = None
        if body and "json" in content_type:
            try:
                parsed_json = json.loads(body)
            except ValueError:
                parsed_json = None
        elif body and "x-www-form-urlencoded" in content_type:
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        request = RecordedRequest(
            method=self.command,
            path=split.path,
            query=parse_qsl(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
            json=parsed_json,
            form=form,
        )
        reply = self.emulator.handle(request)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body[: reply.cut_at])
        if reply.cut_at is not None:
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve
