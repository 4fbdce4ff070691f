"""The client layer against a scripted local HTTP server (recorded Prometheus answers)."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from stabmon.core.errors import AuthenticationError, InputError, QueryError
from stabmon.collect.prom import (
    ConnectionSettings,
    PrometheusClient,
    UnreachableError,
    chunk_range,
    parse_result,
    parse_value,
    public_url,
)
from stabmon.collect.redact import redact

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)


def vector(value: str, ts: float = 1767571200) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [ts, value]}]}}


class Scripted:
    """A 127.0.0.1 server answering from a queue of (status, body, headers); records requests.

    With the queue empty it answers ``respond(query)`` (a ``(status, body)`` pair) when set, else a range
    whose value at each time is the time.
    """

    def __init__(self) -> None:
        self.answers: deque = deque()
        self.requests: list[dict] = []
        self.respond = None
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return

            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                scripted.requests.append({"path": urlsplit(self.path).path, "query": query,
                                          "headers": dict(self.headers.items())})
                if scripted.answers:
                    status, body, headers = scripted.answers.popleft()
                elif scripted.respond is not None:
                    (status, body), headers = scripted.respond(query), {}
                else:
                    status, body, headers = 200, self._range(query), {}
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET

            def _range(self, query):
                if "start" not in query:
                    return vector("1")
                start, end = float(query["start"]), float(query["end"])
                step = {"s": 1, "m": 60, "h": 3600}[query["step"][-1]] * int(query["step"][:-1])
                values = []
                t = start
                while t <= end:
                    values.append([t, str(t)])
                    t += step
                return {"status": "success", "data": {"resultType": "matrix",
                                                      "result": [{"metric": {"a": "b"}, "values": values}]}}

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, status=200, body=None, headers=None, times=1):
        for _ in range(times):
            self.answers.append((status, body if body is not None else vector("1"), headers or {}))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    server = Scripted()
    yield server
    server.close()


def client_for(url, env=None, **kw):
    kw.setdefault("sleep", lambda s: None)
    return PrometheusClient(ConnectionSettings.from_env(url, env=env or {}), **kw)


def test_values_nan_and_inf_are_missing():
    assert parse_value("1.5") == 1.5
    assert parse_value("NaN") is None and parse_value("+Inf") is None and parse_value("-Inf") is None
    series = parse_result([{"metric": {"x": "1"}, "values": [[1, "NaN"], [2, "3"]]}])
    assert series[0].points == [(1.0, None), (2.0, 3.0)]
    assert parse_result([1, "+Inf"])[0].points == [(1.0, None)]


#: Prometheus refuses a range query answering more than 11,000 points per series.
MAX_POINTS = 11_000
#: A week at a 3 s step: 7 * 86,400 / 3 = 201,600 points, in ceil(201,600 / 11,000) = 19 chunks.
WEEK_AT_3_S = 201_600


@pytest.mark.parametrize("points, chunks", [(1, 1), (MAX_POINTS, 1), (MAX_POINTS + 1, 2), (2 * MAX_POINTS, 2),
                                            (WEEK_AT_3_S, 19)])
def test_chunks_hold_at_most_11000_points_and_never_overlap(points, chunks):
    got = chunk_range(0, (points - 1) * 3, 3)
    assert len(got) == chunks
    covered = []
    for start, end in got:
        n = round((end - start) / 3) + 1
        assert n <= MAX_POINTS
        covered.extend(start + 3 * i for i in range(n))
    assert covered == [3 * i for i in range(points)]


def test_range_is_chunked_and_merged(scripted):
    client = client_for(scripted.url)
    steps = 12_000  # 12,001 points with both ends: more than MAX_POINTS, so two requests
    end = T0 + timedelta(seconds=3 * steps)
    series = client.range("x", T0, end, 3)
    assert len(series) == 1 and len(series[0].points) == steps + 1
    times = [p[0] for p in series[0].points]
    assert times == sorted(set(times))
    assert client.request_count == 2
    assert all(r["query"]["step"] == "3s" and r["query"]["nocache"] == "1" for r in scripted.requests)
    assert all(r["query"]["timeout"] == "30s" for r in scripted.requests)


def test_retries_then_keeps_prometheus_error_text(scripted):
    # A 503 that is not the API's own timeout (a proxy in front of the server): server trouble, retried.
    body = {"status": "error", "errorType": "unavailable", "error": "upstream connect error before headers"}
    scripted.answer(503, body, times=4)
    client = client_for(scripted.url, retries=3)
    with pytest.raises(UnreachableError) as caught:
        client.instant("x", T0)
    assert "upstream connect error before headers" in str(caught.value)
    assert "HTTP 503" in str(caught.value) and scripted.url in str(caught.value)
    assert client.request_count == 1 + 3  # the first try and its 3 retries


def test_retry_recovers_after_429_and_malformed_json(scripted):
    slept = []
    retry_after_s = 2
    scripted.answer(429, {"status": "error", "error": "slow down"}, headers={"Retry-After": str(retry_after_s)})
    scripted.answer(200, b'{"status":"success","data":{"resu')
    scripted.answer(200, vector("+Inf"))
    client = client_for(scripted.url, retries=3, sleep=slept.append)
    assert client.instant("x", T0)[0].points[0][1] is None
    assert client.request_count == 3  # 429, torn JSON, then the answer
    # Retry-After honoured; the client's jitter scales a delay by 0.8 to 1.2.
    assert slept[0] >= retry_after_s * 0.8


def test_bad_query_is_not_retried(scripted):
    scripted.answer(400, {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected"})
    client = client_for(scripted.url)
    with pytest.raises(QueryError, match="bad_data: parse error: unexpected"):
        client.instant("x(", T0)
    assert client.request_count == 1


@pytest.mark.parametrize("status", [401, 403])
def test_authentication_failure(scripted, status):
    scripted.answer(status, b"invalid bearer token")
    with pytest.raises(AuthenticationError, match="authentication failed.*invalid bearer token"):
        client_for(scripted.url).instant("x", T0)


def test_unreachable_names_url_and_reason():
    from support.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    client = client_for(url, retries=2)
    with pytest.raises(UnreachableError) as caught:
        client.instant("x", T0)
    assert url in str(caught.value) and "connection refused" in str(caught.value)
    assert client.request_count == 1 + 2  # the first try and its 2 retries


def test_warnings_are_logged_once(scripted, caplog):
    body = vector("1")
    body["warnings"] = ["PromQL info: metric might not be a counter"]
    scripted.answer(200, body, times=2)
    client = client_for(scripted.url)
    with caplog.at_level(logging.WARNING, logger="stabmon.collect.prom"):
        client.instant("x", T0)
        client.instant("x", T0)
    assert sum("might not be a counter" in r.getMessage() for r in caplog.records) == 1


def test_bearer_token_from_environment(scripted, caplog):
    client = client_for(scripted.url, env={"STABMON_PROMETHEUS_TOKEN": "tok-123456"})
    with caplog.at_level(logging.DEBUG):
        client.instant("x", T0)
    assert scripted.requests[0]["headers"]["Authorization"] == "Bearer tok-123456"
    assert "tok-123456" not in repr(client.settings) and "tok-123456" not in caplog.text


def test_basic_auth_from_environment_and_url(scripted):
    client_for(scripted.url, env={"STABMON_PROMETHEUS_USER": "u", "STABMON_PROMETHEUS_PASSWORD": "p"}).instant("x", T0)
    assert scripted.requests[-1]["headers"]["Authorization"].startswith("Basic ")
    url = scripted.url.replace("http://", "http://me:pw@")
    settings = ConnectionSettings.from_env(url, env={})
    assert settings.url == scripted.url and settings.basic_auth == ("me", "pw")


def test_conflicting_or_bad_settings():
    with pytest.raises(InputError):
        ConnectionSettings.from_env("http://x", env={"STABMON_PROMETHEUS_TOKEN": "t", "STABMON_PROMETHEUS_USER": "u"})
    with pytest.raises(InputError, match="CA_BUNDLE"):
        ConnectionSettings.from_env("http://x", env={"STABMON_CA_BUNDLE": "/no/such/file"})
    with pytest.raises(InputError, match="--prometheus-url"):
        ConnectionSettings.from_env("ftp://x", env={})
    assert ConnectionSettings.from_env("https://x", env={"STABMON_INSECURE_SKIP_VERIFY": "1"}).verify is False
    assert ConnectionSettings.from_env(None, env={"STABMON_PROMETHEUS_URL": "http://p:9090/"}).url == "http://p:9090"


def test_redaction():
    assert "abc123" not in redact("headers={'Authorization': 'Bearer abc123'}", secrets=())
    assert redact("http://user:pa55@host:9090/x", secrets=()) == "http://<redacted>@host:9090/x"
    assert "s3cret" not in redact("token s3cret here", secrets=("s3cret",))
    assert public_url("https://u:p@host:9090/prom/?q=1#f") == "https://host:9090/prom"
