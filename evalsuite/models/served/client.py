"""HTTP for OpenAI-compatible endpoints: JSON in and out, retries, bounded concurrency.

Standard library only (http.client with one kept-alive connection per worker
thread). A request that meets a 429, a 5xx, a timeout or a dropped connection
is retried with exponential backoff (a server's Retry-After is honoured, up to
a cap); when the retries run out the run stops with one line, and every answer
already received is in the request cache, so a rerun resumes. A body that is
not JSON, or JSON of the wrong shape, is one line too: retrying cannot fix it.

The API key is read from the environment variable the user names, sent only
in the Authorization header, and never appears in a message, a fingerprint or
a record.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from urllib.parse import urlsplit

from evalsuite.errors import UserError

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_WAIT_S = 30.0


class EndpointError(UserError):
    """The endpoint could not be used; the message names the endpoint, the problem and the fix."""


class Rejected(EndpointError):
    """The server answered a 4xx (other than 429) to a request: retrying will not help."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def normalise_url(url: str) -> str:
    """`http://host:port/v1` from what a user gave (a trailing /completions or slash is dropped)."""
    url = url.strip().rstrip("/")
    for tail in ("/chat/completions", "/completions"):
        if url.endswith(tail):
            url = url[: -len(tail)]
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"endpoint '{url}' is not an http(s) URL; give e.g. openai-completions:http://127.0.0.1:8000/v1")
    if parts.username or parts.password:
        raise UserError("the endpoint URL holds credentials; remove them and put the key in an environment variable "
                        "named by --model-args api_key_env=NAME")
    if parts.path in ("", "/"):
        url += "/v1"
    return url


def describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Endpoint:
    """One OpenAI-compatible server: `post`/`get` JSON, `map` requests over a bounded pool."""

    def __init__(self, url: str, *, api_key_env: str | None = None, timeout: float = 120.0, max_retries: int = 6,
                 retry_wait: float = 0.5, concurrency: int = 4):
        self.url = normalise_url(url)
        parts = urlsplit(self.url)
        self._https = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if self._https else 80)
        self._root = parts.path.rstrip("/")
        self.timeout, self.max_retries, self.retry_wait = timeout, max_retries, retry_wait
        self.concurrency = concurrency
        self._key = os.environ.get(api_key_env) if api_key_env else None
        self._local = threading.local()
        self._lock = threading.Lock()
        self.sent = 0  # HTTP requests sent, retries included
        self.retried = 0

    # -- one request --------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = self._local.conn = cls(self._host, self._port, timeout=self.timeout)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _once(self, method: str, path: str, body: dict | None) -> tuple[int, bytes, str | None]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        data = json.dumps(body).encode() if body is not None else None
        conn = self._connection()
        with self._lock:
            self.sent += 1
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
        except BaseException:
            self._drop_connection()
            raise
        if resp.getheader("Connection", "").lower() == "close":
            self._drop_connection()
        return resp.status, payload, resp.getheader("Retry-After")

    def request(self, method: str, path: str, body: dict | None = None, retries: int | None = None) -> dict | list:
        """The decoded JSON answer to `method path` (path relative to the /v1 root, or absolute with '//')."""
        full = path[1:] if path.startswith("//") else self._root + path
        where = f"endpoint {self.url}"
        last = "no answer"
        retries = self.max_retries if retries is None else retries
        for attempt in range(retries + 1):
            if attempt:
                with self._lock:
                    self.retried += 1
            try:
                status, payload, retry_after = self._once(method, full, body)
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                last = describe(exc)
                self._sleep(attempt, None, retries)
                continue
            if status in RETRY_STATUS:
                last = f"HTTP {status}"
                self._sleep(attempt, retry_after, retries)
                continue
            if status >= 400:
                raise Rejected(f"{where} refused {method} {full} (HTTP {status}: {_message(payload)}); check the "
                               "model name and options the server accepts", status)
            try:
                return json.loads(payload)
            except (ValueError, UnicodeDecodeError):
                raise EndpointError(f"{where} answered {method} {full} with something that is not JSON "
                                    f"({payload[:60]!r}); check the URL points to an OpenAI-compatible /v1 "
                                    "server") from None
        raise EndpointError(f"{where} did not answer {method} {full} after {retries + 1} tries (last: "
                            f"{last}); check the server is up, then rerun: answers already received are cached")

    def _sleep(self, attempt: int, retry_after: str | None, retries: int) -> None:
        if attempt >= retries:
            return
        wait_s = self.retry_wait * (2 ** attempt) * (1 + random.random() / 2)
        if retry_after:
            try:
                wait_s = max(wait_s, float(retry_after))
            except ValueError:
                pass
        time.sleep(min(wait_s, MAX_WAIT_S))

    def post(self, path: str, body: dict, retries: int | None = None) -> dict | list:
        return self.request("POST", path, body, retries)

    def get(self, path: str) -> dict | list:
        return self.request("GET", path)

    # -- many requests ------------------------------------------------------------------------
    def map(self, fn: Callable[[int], object], n: int, on_done: Callable[[int, object], None] | None = None,
            progress: Callable[[int], None] | None = None) -> list:
        """[fn(0), ..., fn(n-1)] run `concurrency` at a time; on_done(i, value) is called as each finishes.

        The first failure stops the pool (queued work is cancelled) and is raised; finished
        values have already been handed to on_done, so nothing answered is lost.
        """
        results: list = [None] * n
        if n == 0:
            return results

        def finish(i, value):
            results[i] = value
            if on_done is not None:
                on_done(i, value)
            if progress is not None:
                progress(1)

        if self.concurrency == 1 or n == 1:
            for i in range(n):
                finish(i, fn(i))
            return results
        # Workers only talk HTTP; results are handed over here, in the caller's thread (the request
        # cache's SQLite connection belongs to it).
        pool = ThreadPoolExecutor(max_workers=min(self.concurrency, n), thread_name_prefix="evalsuite-http")
        futures = {pool.submit(fn, i): i for i in range(n)}
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return results


def _message(payload: bytes) -> str:
    try:
        data = json.loads(payload)
        if isinstance(data, dict):
            err = data.get("error", data.get("detail", data))
            if isinstance(err, dict):
                err = err.get("message", err)
            return str(err)[:200]
    except (ValueError, UnicodeDecodeError):
        pass
    return payload[:200].decode("utf-8", "replace")


def require_shape(ok: bool, endpoint: Endpoint, what: str, got: object) -> None:
    """One-line error for an answer of the wrong shape (a 200 OK that is not what the API promises)."""
    if not ok:
        shown = json.dumps(got)[:120] if not isinstance(got, (bytes, str)) else repr(got)[:120]
        raise EndpointError(f"endpoint {endpoint.url} answered with the wrong shape ({what}; got {shown}); check "
                            "it is an OpenAI-compatible server and the adapter matches it (openai-completions or "
                            "openai-chat)")
