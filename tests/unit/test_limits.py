"""Splitting queries the server refuses for its limits: the plan by hand, and the client against recorded answers.

The error bodies are what the servers answered (Prometheus 2.42 started with
``--query.max-samples=1000`` and ``--query.timeout=5ms``; VictoriaMetrics with
``-search.maxSamplesPerQuery=1000``), replayed by a scripted local server.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from stabmon.collect.limits import Piece, fetch_instant, fetch_range, split_piece, times_between
from stabmon.collect.prom import QueryTimeoutError, TooManySamplesError
from stabmon.core.errors import QueryError

from test_prom import client_for, scripted  # noqa: F401  (the scripted server fixture)

T0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
E0 = T0.timestamp()  # 1767571200

PROM_SAMPLES = (422, {"status": "error", "errorType": "execution",
                      "error": "query processing would load too many samples into memory in query execution"})
PROM_TIMEOUT = (503, {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"})
PROM_DEADLINE = (422, {"status": "error", "errorType": "execution",
                       "error": "expanding series: context deadline exceeded"})
VM_SAMPLES = (422, {"status": "error", "errorType": "422", "error": (
    'error when executing query="x" on the time range (start=1767567600000, end=1768172400000, step=1800000): '
    "cannot execute query: cannot select more than -search.maxSamplesPerQuery=1000 samples; possible solutions: "
    "to increase the -search.maxSamplesPerQuery; to reduce time range for the query; to use more specific label "
    "filters in order to select lower number of series")})
BAD_QUERY = (400, {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected end of input"})


# --------------------------------------------------------------------------- the plan


def test_a_batch_of_services_is_halved_first_half_rounding_up():
    piece = Piece(("a", "b", "c", "d", "e"), E0, 10)
    kind, (first, second) = split_piece(piece, 1800, grouped=True)
    assert kind == "services"
    assert first == Piece(("a", "b", "c"), E0, 10) and second == Piece(("d", "e"), E0, 10)


def test_a_range_is_halved_on_step_boundaries():
    # 7 times every 30 min from 00:00: 00:00 .. 01:30 (4 times) and 02:00 .. 03:00 (3 times).
    kind, (first, second) = split_piece(Piece(("checkout",), E0, 7), 1800, grouped=False)
    assert kind == "time"
    assert (first.start, first.end(1800), first.count) == (E0, E0 + 5400, 4)
    assert (second.start, second.end(1800), second.count) == (E0 + 7200, E0 + 10800, 3)


def test_one_service_of_a_fleet_is_split_in_time_and_one_time_not_at_all():
    kind, (first, second) = split_piece(Piece(("a",), E0, 2), 86400, grouped=True)
    assert kind == "time" and (first.start, first.count, second.start, second.count) == (E0, 1, E0 + 86400, 1)
    assert split_piece(Piece(("a",), E0, 1), 1800, grouped=True) is None
    assert split_piece(Piece(("a", "b"), E0, 1), None, grouped=True)[0] == "services"  # an instant query
    assert split_piece(Piece(("",), E0, 1), None, grouped=False) is None
    # An ungrouped target is never split by services, whatever its name list says.
    assert split_piece(Piece(("x", "y"), E0, 1), 1800, grouped=False) is None


@pytest.mark.parametrize("start, end, step, count", [
    (0, 86400, 1800, 49),   # a day at 30 min, both ends included
    (0, 86399, 1800, 48),   # the last time would be past the end
    (0, 0, 60, 1),
    (10, 0, 60, 0),
])
def test_times_between(start, end, step, count):
    assert times_between(start, end, step) == count


# --------------------------------------------------------------------------- the client's errors


@pytest.mark.parametrize("answer, kind", [
    (PROM_SAMPLES, TooManySamplesError),
    (PROM_TIMEOUT, QueryTimeoutError),
    (PROM_DEADLINE, QueryTimeoutError),
    (VM_SAMPLES, TooManySamplesError),
])
def test_limit_answers_are_their_own_errors_and_not_retried(scripted, answer, kind):
    scripted.answer(*answer)
    client = client_for(scripted.url, retries=3)
    with pytest.raises(kind) as caught:
        client.instant("x", T0)
    assert answer[1]["error"] in str(caught.value)
    assert client.request_count == 1


def test_a_bad_query_is_not_a_limit(scripted):
    scripted.answer(*BAD_QUERY)
    with pytest.raises(QueryError) as caught:
        client_for(scripted.url).instant("x(", T0)
    assert type(caught.value) is QueryError


# --------------------------------------------------------------------------- splitting against the server


def limited_server(scripted, max_points: int, refusal=PROM_SAMPLES):
    """Answer ``x{service=~"a|b"}`` with one series per service valued ``100*k + minutes``, or refuse it.

    A request is refused when services x times exceeds ``max_points`` (the way a sample limit grows).
    """
    def respond(query):
        services = re.search(r'service=~"([^"]*)"', query["query"]).group(1).split("|")
        if "start" in query:
            step = {"s": 1, "m": 60, "h": 3600}[query["step"][-1]] * int(query["step"][:-1])
            start, end = float(query["start"]), float(query["end"])
            times = [start + i * step for i in range(int((end - start) // step) + 1)]
        else:
            times = [float(query["time"])]
        if len(services) * len(times) > max_points:
            return refusal
        result = [{"metric": {"service": s}, "values": [[t, str(100 * k + (t - E0) / 60)] for t in times]}
                  for k, s in enumerate(("a", "b", "c")) if s in services]
        return 200, {"status": "success", "data": {"resultType": "matrix", "result": result}}

    scripted.respond = respond


def batch(services):
    return 'x{service=~"' + "|".join(services) + '"}'


def asked(scripted):
    """The requests made: (services, first minute, last minute) from T0."""
    out = []
    for r in scripted.requests:
        q = r["query"]
        services = re.search(r'service=~"([^"]*)"', q["query"]).group(1)
        out.append((services, (float(q["start"]) - E0) / 60, (float(q["end"]) - E0) / 60))
    return out


def test_services_then_time_halving_gives_the_unsplit_answer(scripted, caplog):
    limited_server(scripted, max_points=4)
    client = client_for(scripted.url)
    with caplog.at_level(logging.WARNING, logger="stabmon.collect.limits"):
        series = fetch_range(client, "requests", batch, ["a", "b", "c"], T0, T0 + timedelta(minutes=6), 60,
                             grouped=True)
    # 3 services x 7 times = 21 > 4: refused, halved to a|b (14, refused) and c; a|b to a and b; a's 7 times
    # (refused) to minutes 0..3 and 4..6 (4 and 3 points: answered). b and c are as large as the refused
    # one-service week, so they are split without being asked.
    assert asked(scripted) == [("a|b|c", 0, 6), ("a|b", 0, 6), ("a", 0, 6), ("a", 0, 3), ("a", 4, 6),
                               ("b", 0, 3), ("b", 4, 6), ("c", 0, 3), ("c", 4, 6)]
    by_service = {s.labels["service"]: s.points for s in series}
    assert by_service == {s: [(E0 + 60 * m, 100.0 * k + m) for m in range(7)]
                          for k, s in enumerate(("a", "b", "c"))}
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "requests over 3 services refused" in lines[0] and "fewer services per request" in lines[0]
    assert "--query.max-samples" in lines[0] and "would load too many samples" in lines[0]
    assert "requests over 7 times (2026-01-05T00:00:00Z .. 2026-01-05T00:06:00Z)" in lines[1]
    assert "shorter time ranges" in lines[1]

    # The same client (one run) does not say it again.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stabmon.collect.limits"):
        fetch_range(client, "errors", batch, ["a", "b"], T0, T0 + timedelta(minutes=6), 60, grouped=True)
    assert caplog.records == []


def test_an_instant_query_is_split_by_services_only(scripted):
    limited_server(scripted, max_points=1)
    client = client_for(scripted.url)
    series = fetch_instant(client, "requests", batch, ["a", "b", "c"], T0 + timedelta(minutes=2), grouped=True)
    assert sorted((s.labels["service"], s.points) for s in series) == [
        ("a", [(E0 + 120, 2.0)]), ("b", [(E0 + 120, 102.0)]), ("c", [(E0 + 120, 202.0)])]
    # a|b|c refused and halved to a|b (refused, halved to a and b) and c: 3 services at one time cannot be
    # split in time, and a single service is smaller than the refused pair, so a, b and c are each asked.
    assert client.request_count == 5


def test_the_smallest_piece_still_refused_is_one_error_naming_the_limit(scripted):
    limited_server(scripted, max_points=0)
    client = client_for(scripted.url)
    with pytest.raises(TooManySamplesError) as caught:
        fetch_range(client, "requests", batch, ["b"], T0, T0 + timedelta(minutes=1), 60, grouped=True)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("still refused for one service ('b') at one time (2026-01-05T00:00:00Z)")
    assert "would load too many samples" in message and "--query.max-samples" in message
    assert caught.value.expression == batch(["b"])
    assert client.request_count == 2  # both minutes, then minute 0 alone


def test_a_time_out_at_the_smallest_piece_is_asked_again(scripted):
    slept = []
    limited_server(scripted, max_points=1, refusal=PROM_TIMEOUT)
    scripted.answer(*PROM_TIMEOUT)  # minute 0 of b alone: the busy server answers the second time
    client = client_for(scripted.url, retries=2, sleep=slept.append)
    series = fetch_range(client, "requests", batch, ["b"], T0, T0, 60, grouped=True)
    assert series[0].points == [(E0, 100.0)]
    assert client.request_count == 2 and len(slept) == 1


def test_a_time_out_that_lasts_ends_after_the_retries(scripted):
    limited_server(scripted, max_points=0, refusal=PROM_TIMEOUT)
    client = client_for(scripted.url, retries=2)
    with pytest.raises(QueryTimeoutError, match=r"still refused for one target .*query timed out.*--query\.timeout"):
        fetch_range(client, "requests", batch, ["b"], T0, T0, 60, grouped=False)
    assert client.request_count == 1 + 2


def test_a_start_up_check_over_the_limit_says_so(scripted):
    scripted.answer(*PROM_SAMPLES)
    client = client_for(scripted.url)
    with pytest.raises(TooManySamplesError, match=r"refuses even the start-up check vector\(1\): execution: "
                                                  r"query processing would load too many samples.*--query\.max-samples"):
        client.check()
