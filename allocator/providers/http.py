"""The one way adapters speak HTTP: timeouts, bounded retries honouring Retry-After, one error type."""

from __future__ import annotations

import email.utils
import functools
import time
from typing import Any

import httpx

from allocator.providers.base import ERROR_TEXT_LIMIT, ProviderError, decode_json

_tls_context = functools.cache(httpx.create_ssl_context)  # loading the CA bundle takes ~0.3 s: once a process


def _retry_after_seconds(response: httpx.Response) -> float | None:
    ms = response.headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


class HttpClient:
    """The one way adapters speak HTTP: timeouts, bounded retries honoring Retry-After, one error type.

    Retries 408/409/429/5xx and connection errors/timeouts `retries` times with exponential backoff
    (capped by `max_sleep`), then raises ProviderError. Never logs headers or bodies (they hold secrets).
    """

    RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str],
        timeout: float = 20.0,
        retries: int = 2,
        backoff: float = 0.5,
        max_sleep: float = 30.0,
        provider: str = "provider",
        error_message=None,
    ) -> None:
        self.base_url = base_url
        self.headers = headers
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_sleep = max_sleep
        self.provider = provider
        self.error_message = error_message or (lambda response: response.text[:ERROR_TEXT_LIMIT])
        self.last_headers = httpx.Headers()  # of the last answer (GitHub pages with its Link header)
        self.throttled = 0  # 429 answers seen by this client (a capacity hint)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return the decoded JSON body (or None for an empty body)."""
        url = self.base_url + path
        attempt = 0
        while True:
            try:
                with httpx.Client(timeout=self.timeout, verify=_tls_context()) as client:
                    response = client.request(method, url, headers=self.headers, **kwargs)
            except httpx.TimeoutException as e:
                error = ProviderError(f"{self.provider} timed out after {self.timeout:g}s ({method} {path})")
                cause: Exception = e
            except (httpx.RemoteProtocolError, httpx.ReadError) as e:
                error = ProviderError(f"{self.provider} cut off its answer to {method} {path} (closed early)")
                cause = e
            except httpx.HTTPError as e:
                error = ProviderError(f"{self.provider} unreachable: {e.__class__.__name__} ({method} {path})")
                cause = e
            else:
                if response.status_code < 400:
                    self.last_headers = response.headers
                    return self._decode(response, method, path)
                error = self._error(response, method, path)
                self.throttled += response.status_code == 429
                cause = None  # type: ignore[assignment]
                if response.status_code not in self.RETRY_STATUSES or self._is_quota(response):
                    raise error
            if attempt >= self.retries:
                raise error from cause
            delay = error.retry_after if error.retry_after is not None else self.backoff * (2**attempt)
            time.sleep(min(delay, self.max_sleep))
            attempt += 1

    def _decode(self, response: httpx.Response, method: str, path: str) -> Any:
        if not response.content:
            return None
        try:
            return decode_json(response.content)
        except ValueError as e:
            raise ProviderError(
                f"{self.provider} sent a malformed response to {method} {path} (not JSON)",
                status=response.status_code,
            ) from e

    def _is_quota(self, response: httpx.Response) -> bool:
        # OpenAI's 429 insufficient_quota is a billing problem; retrying cannot help.
        return response.status_code == 429 and "insufficient_quota" in response.text

    def _error(self, response: httpx.Response, method: str, path: str) -> ProviderError:
        status = response.status_code
        try:
            detail = self.error_message(response)
        except Exception:  # noqa: BLE001 - an unreadable error body must not hide the status
            detail = f"unreadable error body ({len(response.content)} bytes)"
        message = f"{self.provider} answered {status} to {method} {path}: {detail}".strip().rstrip(":")
        return ProviderError(
            message,
            status=status,
            auth=status in (401, 403),
            permanent=status not in self.RETRY_STATUSES or self._is_quota(response),
            retry_after=_retry_after_seconds(response),
        )
