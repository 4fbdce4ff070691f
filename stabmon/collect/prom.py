"""The Prometheus client layer: prometheus-api-client plus what a week-long run needs.

:class:`PrometheusClient` wraps ``PrometheusConnect.custom_query`` and
``custom_query_range`` and adds:

- range splitting so no request asks for more than :data:`MAX_POINTS_PER_SERIES`
  points per series (start and end are inclusive, chunks never share a point);
- value parsing from the API's strings, with ``"NaN"``, ``"+Inf"`` and
  ``"-Inf"`` turned into ``None`` (its ``Metric``/``MetricsList`` classes are
  not used: they crash on ``"NaN"``);
- an HTTP timeout and Prometheus's own ``timeout`` parameter;
- retries with exponential backoff on connection errors, timeouts, 429, 5xx
  and malformed bodies. PrometheusConnect's urllib3 ``Retry`` raises a
  ``RetryError`` that drops the server's body, so it is switched off and the
  retry loop lives here, keeping Prometheus's error text for the final message;
- the server's limits told apart from a bad query: a query that would load
  too many samples (Prometheus ``--query.max-samples``, VictoriaMetrics
  ``-search.maxSamplesPerQuery``) raises :class:`TooManySamplesError`, one
  that ran out of time (``--query.timeout``, ``-search.maxQueryDuration``)
  :class:`QueryTimeoutError`, neither retried as it stands: the collector
  splits it (:mod:`stabmon.collect.limits`);
- API ``warnings`` logged (once per distinct text);
- credentials and TLS options from the environment only, and an
  ``Authorization`` header that never reaches a log line (:func:`redact`);
- a count of the HTTP requests made (benchmarks print it).

Every failure is raised as a :class:`~stabmon.core.errors.PrometheusError`
subclass whose message fits on one line.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson
import requests
import urllib3
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from stabmon.collect.queries import promql_duration
from stabmon.collect.redact import ENV_PASSWORD, ENV_TOKEN, ENV_USER, redact
from stabmon.core.errors import AuthenticationError, InputError, PrometheusError, QueryError

log = logging.getLogger(__name__)

#: Prometheus refuses range queries above 11,000 points per series.
MAX_POINTS_PER_SERIES = 11_000

ENV_URL = "STABMON_PROMETHEUS_URL"
ENV_CA_BUNDLE = "STABMON_CA_BUNDLE"
ENV_INSECURE = "STABMON_INSECURE_SKIP_VERIFY"
DEFAULT_URL = "http://localhost:9090"

#: Statuses worth another try: rate limiting and server-side trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class UnreachableError(PrometheusError):
    """The server could not be reached, or kept failing after every retry."""


class ServerLimitError(QueryError):
    """The server refused a query for one of its limits; a smaller query may pass.

    :attr:`limit` names the limit for a message (the server's own text does
    not always say which flag it is).
    """

    limit = "a limit of the server"
    #: The PromQL that was refused, when it differs from the caller's (a piece of a split query).
    expression: str | None = None


class TooManySamplesError(ServerLimitError):
    """The query would load too many samples (HTTP 422).

    Prometheus ``--query.max-samples``: ``execution: query processing would
    load too many samples into memory in query execution``; VictoriaMetrics
    ``-search.maxSamplesPerQuery``: ``cannot select more than
    -search.maxSamplesPerQuery=N samples``.
    """

    limit = "the server's sample limit (Prometheus --query.max-samples, VictoriaMetrics -search.maxSamplesPerQuery)"


class QueryTimeoutError(ServerLimitError):
    """The query ran out of the server's time.

    Prometheus ``--query.timeout``: HTTP 503 ``timeout: query timed out in
    expression evaluation`` or, when the deadline passes while it reads
    series, HTTP 422 ``execution: expanding series: context deadline
    exceeded``; VictoriaMetrics ``-search.maxQueryDuration``: ``timeout
    exceeded during query execution``.
    """

    limit = "the server's query time limit (Prometheus --query.timeout, VictoriaMetrics -search.maxQueryDuration)"


#: Words of the servers' answers that name each limit (lower case).
_SAMPLE_LIMIT_WORDS = ("would load too many samples", "-search.maxsamplesper")
_TIME_LIMIT_WORDS = ("query timed out", "context deadline exceeded", "timeout exceeded during")


def limit_error(status: int, body: Any, text: str) -> ServerLimitError | None:
    """The limit a refused answer (422 or 503 with the API's error JSON) hit, or ``None``.

    ``text`` is the message to raise (``errorType: error``, redacted). A 503
    that is not the API's ``timeout`` error (a proxy's page) is not a limit:
    it is retried as server trouble.
    """
    if status not in (422, 503) or not isinstance(body, dict) or body.get("status") != "error":
        return None
    words = str(body.get("error", "")).lower()
    if status == 422 and any(w in words for w in _SAMPLE_LIMIT_WORDS):
        return TooManySamplesError(text)
    if body.get("errorType") == "timeout" or any(w in words for w in _TIME_LIMIT_WORDS):
        return QueryTimeoutError(text)
    return None


def public_url(url: str) -> str:
    """``url`` without userinfo, query or fragment: safe to log and to write to run.json."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # e.g. an unencoded '#' in a password cuts the URL there: show no part of it
        return f"{parts.scheme}://<invalid>"
    netloc = host + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach the server: URL and credentials/TLS from the environment.

    Build it with :meth:`from_env`; nothing here is ever written to a file.
    """

    url: str
    token: str | None = None
    basic_auth: tuple[str, str] | None = None
    verify: bool | str = True

    def __repr__(self) -> str:  # never print secrets, even in a traceback
        auth = "bearer" if self.token else "basic" if self.basic_auth else "none"
        return f"ConnectionSettings(url={public_url(self.url)!r}, auth={auth}, verify={self.verify!r})"

    @classmethod
    def from_env(cls, url: str | None = None, env: Mapping[str, str] | None = None) -> "ConnectionSettings":
        """Read the URL (argument, else ``STABMON_PROMETHEUS_URL``, else localhost) and credentials.

        Credentials written into the URL (``http://user:pass@host``) are moved
        to basic auth so they never travel in logs or ``run.json``.

        Raises
        ------
        InputError
            A URL that is not http(s), both a token and basic-auth variables,
            or a CA bundle that does not exist.
        """
        env = os.environ if env is None else env
        raw = url or env.get(ENV_URL) or DEFAULT_URL
        parts = urlsplit(raw.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"--prometheus-url: not an http(s) URL: {public_url(raw) or redact(raw)!r}")
        try:
            port = parts.port
        except ValueError:
            # Nothing of the URL is echoed: what looks like the port may be a piece of a password.
            raise InputError(
                "--prometheus-url: not a valid URL (its port is not a number); characters such as "
                f"'#', '/', '?' or '@' in URL credentials must be percent-encoded, or use {ENV_USER}/{ENV_PASSWORD}"
            ) from None
        basic: tuple[str, str] | None = None
        if parts.username is not None:
            # userinfo is percent-encoded in a URL; the server wants the decoded pair.
            basic = (unquote(parts.username), unquote(parts.password or ""))
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        netloc = host + (f":{port}" if port else "")
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        token = env.get(ENV_TOKEN) or None
        user = env.get(ENV_USER)
        if user:
            basic = (user, env.get(ENV_PASSWORD, ""))
        if token and basic:
            raise InputError(
                f"set either {ENV_TOKEN} or {ENV_USER}/{ENV_PASSWORD} (or URL credentials), not both"
            )
        verify: bool | str = True
        ca = env.get(ENV_CA_BUNDLE)
        if ca:
            if not os.path.isfile(ca):
                raise InputError(f"{ENV_CA_BUNDLE}: no such file: {ca}")
            verify = ca
        if env.get(ENV_INSECURE, "").strip().lower() in ("1", "true", "yes"):
            verify = False
        return cls(url=clean, token=token, basic_auth=basic, verify=verify)


# --------------------------------------------------------------------------- results


@dataclass
class Series:
    """One series of a query result: its labels and ``(unix_seconds, value)`` points.

    A value of ``None`` stands for NaN or +/-Inf.
    """

    labels: dict[str, str]
    points: list[tuple[float, float | None]]


def parse_value(text: Any) -> float | None:
    """Parse a sample value as the API sends it (a string); NaN and Inf become ``None``."""
    try:
        number = float(text)
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return number


def parse_result(result: Any) -> list[Series]:
    """Turn the ``data.result`` of an instant or range answer into :class:`Series`.

    Accepts a vector (``value``), a matrix (``values``) or a scalar/string
    (``[ts, "v"]``).

    Raises
    ------
    ValueError
        When the shape is none of these.
    """
    if isinstance(result, list) and len(result) == 2 and isinstance(result[0], (int, float)):
        return [Series({}, [(float(result[0]), parse_value(result[1]))])]
    if not isinstance(result, list):
        raise ValueError(f"unexpected result type {type(result).__name__}")
    series: list[Series] = []
    for item in result:
        if not isinstance(item, dict):
            raise ValueError("result item is not an object")
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        if "values" in item:
            points = [(float(ts), parse_value(v)) for ts, v in item["values"]]
        elif "value" in item:
            ts, v = item["value"]
            points = [(float(ts), parse_value(v))]
        else:
            raise ValueError("result item has neither value nor values")
        series.append(Series(labels, points))
    return series


def chunk_range(start: float, end: float, step: float, max_points: int = MAX_POINTS_PER_SERIES) -> list[tuple[float, float]]:
    """Split the inclusive range ``start..end`` (step ``step``) into request-sized chunks.

    Each chunk holds at most ``max_points`` evaluation times; consecutive
    chunks do not share a time (the next starts one step after the last end).
    """
    if step <= 0:
        raise ValueError("step must be positive")
    if end < start:
        return []
    total = int(math.floor((end - start) / step + 1e-9)) + 1
    chunks = []
    first = 0
    while first < total:
        last = min(first + max_points, total) - 1
        chunks.append((start + first * step, start + last * step))
        first = last + 1
    return chunks


def _parsed_once(response: requests.Response) -> Callable[..., Any]:
    """``response.json`` that parses the body once (with orjson): prometheus-api-client parses an answer and
    :meth:`PrometheusClient._call` reads it again; a fleet's range answers are megabytes each."""
    parsed: list[Any] = []

    def json(**_: Any) -> Any:
        if not parsed:
            try:
                parsed.append(orjson.loads(response.content))
            except orjson.JSONDecodeError as exc:  # a ValueError, as requests raises
                raise ValueError(f"not JSON: {exc}") from None
        return parsed[0]

    return json


def _json(response: requests.Response) -> Any:
    """The body of an answer as JSON, or ``None`` when it is not."""
    try:
        return response.json()
    except ValueError:
        return None


def merge_series(parts: Iterable[list[Series]]) -> list[Series]:
    """The answers of disjoint pieces of one query as one answer.

    Series with the same label set are joined, their points in time order.
    The pieces ask for disjoint times, so a (series, time) seen twice means
    the server answered outside what was asked: :class:`UnreachableError`
    (a malformed answer) rather than a point silently kept twice or dropped.
    """
    merged: dict[tuple[tuple[str, str], ...], Series] = {}
    for part in parts:
        for series in part:
            key = tuple(sorted(series.labels.items()))
            if key in merged:
                merged[key].points.extend(series.points)
            else:
                merged[key] = Series(dict(series.labels), list(series.points))
    for series in merged.values():
        series.points.sort(key=lambda p: p[0])
        times = [p[0] for p in series.points]
        if len(set(times)) != len(times):
            raise UnreachableError(f"malformed answer: the pieces of a query overlap in time for the series "
                                   f"{redact(str(series.labels))[:200]}")
    return list(merged.values())


def _server_error_text(response: requests.Response | None) -> str:
    """The server's own words from a failed answer: ``errorType: error`` or the body."""
    if response is None:
        return ""
    body = _json(response)
    if isinstance(body, dict) and body.get("error"):
        kind = body.get("errorType")
        return f"{kind}: {body['error']}" if kind else str(body["error"])
    text = (response.text or "").strip()
    text = " ".join(text.split())
    return text[:300] or (response.reason or "")


# --------------------------------------------------------------------------- client


class PrometheusClient:
    """Instant and range queries against a Prometheus-compatible HTTP API.

    Parameters
    ----------
    settings
        URL and credentials (see :meth:`ConnectionSettings.from_env`).
    timeout
        HTTP timeout per request, seconds; Prometheus's ``timeout`` parameter
        is set to the same value so the server gives up when the client does.
    retries
        Extra attempts after the first on retryable failures.
    backoff
        First backoff delay (seconds), doubled per attempt, with jitter,
        capped by ``max_backoff``; a ``Retry-After`` header is honoured up to
        the cap.
    extra_params
        Sent with every query. The default ``nocache=1`` makes
        VictoriaMetrics answer for exactly the time asked for (it otherwise
        moves instant queries within ``-search.latencyOffset`` of now back by
        that offset and aligns range starts to the step); Prometheus ignores it.
    sleep
        Used between retries; tests inject a fake.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        extra_params: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.url = settings.url
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.extra_params = dict({"nocache": "1"} if extra_params is None else extra_params)
        self._sleep = sleep
        self._lock = threading.Lock()
        self.request_count = 0
        self._seen_warnings: set[str] = set()
        self._local = threading.local()

        session = requests.Session()
        session.verify = settings.verify
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        if settings.basic_auth:
            session.auth = settings.basic_auth
        if settings.verify is False:
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            log.warning("TLS certificate verification is off (%s=1)", ENV_INSECURE)
        # The hook sees every response, so the body (error text, warnings)
        # survives PrometheusConnect's HTTP-status-only exception.
        session.hooks["response"].append(self._remember_response)
        self._session = session
        self._connect = PrometheusConnect(
            url=self.url,
            session=session,
            # Our loop retries; urllib3's would raise RetryError without the body.
            retry=Retry(total=0, connect=0, read=0, status=0, redirect=0, raise_on_status=False),
            timeout=self.timeout,
        )

    # -- plumbing ------------------------------------------------------------

    def _remember_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._local.response = response
        response.json = _parsed_once(response)  # type: ignore[method-assign]

    def close(self) -> None:
        """Release the connection pool."""
        self._connect.close()

    def __enter__(self) -> "PrometheusClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PrometheusClient({public_url(self.url)!r})"

    def _params(self) -> dict[str, str]:
        params = dict(self.extra_params)
        params["timeout"] = f"{max(1, int(self.timeout))}s"
        return params

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        if response is not None and response.headers.get("Retry-After"):
            try:
                delay = min(self.max_backoff, max(delay, float(response.headers["Retry-After"])))
            except ValueError:
                pass
        return delay * (0.8 + 0.4 * random.random())

    def _call(self, what: str, send: Callable[[], Any]) -> dict[str, Any]:
        """Run one API call with retries; return the parsed JSON body of the answer."""
        where = public_url(self.url)
        last_reason = ""
        for attempt in range(self.retries + 1):
            self._local.response = None
            with self._lock:
                self.request_count += 1
            response: requests.Response | None = None
            retryable = True
            try:
                send()
                response = self._local.response
            except PrometheusApiClientException:
                response = self._local.response
            except requests.exceptions.SSLError as exc:
                raise UnreachableError(f"cannot reach Prometheus at {where}: TLS error: {redact(_short(exc))}") from None
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                last_reason = _connection_reason(exc)
                response = None
            except (ValueError, KeyError, TypeError):
                # 200 with a body that is not the API's JSON (a proxy page, a cut stream).
                response = self._local.response
            if response is not None:
                status = response.status_code
                text = redact(_server_error_text(response))
                if status in (401, 403):
                    raise AuthenticationError(f"authentication failed at {where} (HTTP {status}): {text}")
                limit = limit_error(status, _json(response), text)
                if limit is not None:
                    raise limit
                if status in (400, 422):
                    raise QueryError(text or f"HTTP {status}")
                if status == 200:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    if isinstance(body, dict) and body.get("status") == "success" and "data" in body:
                        self._log_warnings(body, what)
                        return body
                    if isinstance(body, dict) and body.get("status") == "error":
                        raise QueryError(text)
                    last_reason = "malformed answer (not the Prometheus API's JSON)"
                elif status in RETRY_STATUSES:
                    last_reason = f"HTTP {status}: {text}" if text else f"HTTP {status}"
                else:
                    retryable = False
                    last_reason = f"HTTP {status}: {text}" if text else f"HTTP {status}"
            if not retryable or attempt == self.retries:
                break
            delay = self._delay(attempt, response)
            log.debug("%s failed (%s); retry %d/%d in %.2fs", what, last_reason, attempt + 1, self.retries, delay)
            self._sleep(delay)
        attempts = f" after {self.retries + 1} attempts" if self.retries else ""
        raise UnreachableError(f"Prometheus at {where} failed{attempts}: {last_reason}")

    def _log_warnings(self, body: dict[str, Any], what: str) -> None:
        for warning in body.get("warnings") or []:
            text = redact(str(warning))
            if self.first_time(text):
                log.warning("Prometheus warning for %s: %s", what, text)

    def first_time(self, key: str) -> bool:
        """Whether this client (one run) sees ``key`` for the first time: what is logged once per run."""
        with self._lock:
            if key in self._seen_warnings:
                return False
            self._seen_warnings.add(key)
            return True

    def pause_before_retry(self, attempt: int) -> None:
        """Sleep the backoff of retry ``attempt`` (0 for the first), as the client's own retries do."""
        self._sleep(self._delay(attempt, None))

    # -- API -----------------------------------------------------------------

    def check(self, retries: int = 1) -> None:
        """Make sure the server answers queries (``vector(1)`` now), with few retries.

        A server down at the start of a run is reported at once rather than
        after the full backoff of a query.

        Raises
        ------
        UnreachableError, AuthenticationError, ServerLimitError
            One line naming the URL and the reason.
        """
        saved = self.retries
        self.retries = min(saved, retries)
        try:
            self.instant("vector(1)", datetime.now(timezone.utc).replace(microsecond=0))
        except ServerLimitError as exc:
            raise type(exc)(f"Prometheus at {public_url(self.url)} refuses even the start-up check vector(1): "
                            f"{exc}; over {exc.limit}: raise that limit") from None
        finally:
            self.retries = saved

    def instant(self, expr: str, at: datetime, *, step_seconds: float | None = None) -> list[Series]:
        """Evaluate ``expr`` at time ``at``.

        ``step_seconds`` is passed as ``step``: VictoriaMetrics uses it as the
        lookback of an instant query, so live and range answers agree.
        """
        params = self._params()
        params["time"] = _unix(at)
        if step_seconds:
            params["step"] = _step(step_seconds)
        body = self._call(f"query {expr!r}", lambda: self._connect.custom_query(expr, params=params))
        return _parse(body, expr)

    def range(self, expr: str, start: datetime, end: datetime, step_seconds: float) -> list[Series]:
        """Evaluate ``expr`` at ``start, start+step, ... <= end``, in chunks of at most 11,000 points.

        Series are merged across chunks by label set, points in time order.
        ``start`` and ``end`` must be whole seconds (PrometheusConnect rounds
        them to seconds).
        """
        parts = []
        for chunk_start, chunk_end in chunk_range(start.timestamp(), end.timestamp(), step_seconds):
            cs = datetime.fromtimestamp(chunk_start, timezone.utc)
            ce = datetime.fromtimestamp(chunk_end, timezone.utc)
            params = self._params()
            body = self._call(
                f"query_range {expr!r}",
                lambda cs=cs, ce=ce, params=params: self._connect.custom_query_range(
                    expr, start_time=cs, end_time=ce, step=_step(step_seconds), params=params
                ),
            )
            parts.append(_parse(body, expr))
        return merge_series(parts)

    def label_values(self, label: str, matchers: list[str], start: datetime, end: datetime) -> list[str]:
        """Values of ``label`` on the series matching any of ``matchers`` in ``start..end``.

        The standard ``/api/v1/label/<name>/values`` endpoint (Prometheus,
        VictoriaMetrics, Thanos, Mimir); servers resolve ``start``/``end`` at
        their own granularity (blocks, days), so the answer may include
        values with no sample exactly in the window. Used by fleet runs
        (``--all-services``).
        """
        params: dict[str, Any] = dict(self.extra_params)
        params["match[]"] = list(matchers)
        params["start"] = _unix(start)
        params["end"] = _unix(end)
        body = self._call(f"label values {label!r}",
                          lambda: self._connect.get_label_values(label, params=params))
        return _string_list(body, f"label values of {label!r}")

    # -- metadata API (the preflight, stabmon.collect.check) -------------------

    def _get(self, what: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """GET ``path`` of the API with ``params`` through the retry loop of every call."""
        url = f"{self.url}{path}"
        return self._call(what, lambda: self._session.get(url, params=dict(params), timeout=self.timeout))

    def _matched(self, matchers: list[str], start: datetime | None, end: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.extra_params)
        if matchers:
            params["match[]"] = list(matchers)
        if start is not None:
            params["start"] = _unix(start)
        if end is not None:
            params["end"] = _unix(end)
        return params

    def metadata(self, metric: str) -> list[dict[str, str]]:
        """The metadata entries (``type``, ``help``, ``unit``) the targets expose for ``metric``.

        ``/api/v1/metadata?metric=``; an empty list when the server has none
        (data loaded from blocks or remote write carries no metadata).
        """
        body = self._get(f"metadata of {metric!r}", "/api/v1/metadata", {"metric": metric})
        data = body.get("data")
        if not isinstance(data, dict):
            raise UnreachableError(f"malformed answer to the metadata of {metric!r}: expected an object")
        entries = data.get(metric) or []
        return [{str(k): str(v) for k, v in e.items()} for e in entries if isinstance(e, dict)]

    def labels(self, matchers: list[str], start: datetime | None = None, end: datetime | None = None) -> list[str]:
        """Label names on the series matching any of ``matchers`` in ``start..end`` (``/api/v1/labels``)."""
        body = self._get("label names", "/api/v1/labels", self._matched(matchers, start, end))
        return _string_list(body, "label names")

    def series(self, matchers: list[str], start: datetime | None = None,
               end: datetime | None = None) -> list[dict[str, str]]:
        """Label sets of the series matching any of ``matchers`` in ``start..end`` (``/api/v1/series``)."""
        body = self._get("series", "/api/v1/series", self._matched(matchers, start, end))
        data = body.get("data")
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise UnreachableError("malformed answer to series: expected a list of label sets")
        return [{str(k): str(v) for k, v in item.items()} for item in data]


def _string_list(body: dict[str, Any], what: str) -> list[str]:
    data = body.get("data")
    if not isinstance(data, list):
        raise UnreachableError(f"malformed answer to {what}: expected a list")
    return [str(v) for v in data]


def _parse(body: dict[str, Any], expr: str) -> list[Series]:
    data = body.get("data")
    try:
        return parse_result(data.get("result") if isinstance(data, dict) else None)
    except (ValueError, TypeError) as exc:
        raise UnreachableError(f"malformed answer to {expr!r}: {exc}") from None


def _unix(ts: datetime) -> str:
    value = ts.timestamp()
    return str(int(value)) if value == int(value) else f"{value:.3f}"


def _step(seconds: float) -> str:
    # A duration string is read the same by Prometheus and VictoriaMetrics.
    return promql_duration(seconds)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def _connection_reason(exc: BaseException) -> str:
    """A short reason for a connection failure (``connection refused``, ``timed out``)."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.Timeout) or "timed out" in text.lower():
        return "timed out"
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("nodename nor servname", "unknown host"),
        ("Temporary failure in name resolution", "unknown host"),
        ("RemoteDisconnected", "connection closed by the server"),
        ("Connection reset", "connection reset"),
        ("Connection aborted", "connection closed by the server"),
        ("No route to host", "no route to host"),
    ):
        if needle in text:
            return reason
    return redact(_short(exc))
