"""Range queries one ahead (issue 13): the next query is under way while the answer before it is read."""

from __future__ import annotations

import threading
import time

import pytest

from stabmon.collect.collector import _one_ahead


def test_results_come_in_order_with_at_most_two_calls_in_flight():
    lock = threading.Lock()
    running = {"now": 0, "most": 0}

    def call(i):
        def run():
            with lock:
                running["now"] += 1
                running["most"] = max(running["most"], running["now"])
            time.sleep(0.02 * (5 - i))  # the early calls are the slow ones
            with lock:
                running["now"] -= 1
            return i * 10
        return run

    assert list(_one_ahead([call(i) for i in range(5)])) == [0, 10, 20, 30, 40]
    assert running["most"] == 2


def test_the_next_call_starts_before_the_caller_has_used_the_current_answer():
    started = []
    calls = [lambda i=i: started.append(i) or i for i in range(3)]
    results = _one_ahead(calls)
    assert next(results) == 0
    time.sleep(0.05)
    assert started[:2] == [0, 1]  # query 1 ran while answer 0 was being used
    assert list(results) == [1, 2]


def test_an_error_is_raised_at_its_query_after_the_answers_before_it():
    def boom():
        raise ValueError("query 1 refused")

    results = _one_ahead([lambda: "a", boom, lambda: "c"])
    assert next(results) == "a"
    with pytest.raises(ValueError, match="query 1 refused"):
        next(results)


def test_no_calls_no_results():
    assert list(_one_ahead([])) == []
