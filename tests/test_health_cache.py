"""The health answer's cache on its own: age, expiry, forcing, and one refresh at a time.

A manual clock replaces time.monotonic (the only collaborator replaced: waiting out a real minute would
make the test slow without proving more); the checks are plain functions counting their calls."""

from __future__ import annotations

import threading

from shared.health_cache import HealthCache


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_cached_answer_says_its_age_and_expires():
    clock, calls = ManualClock(), []
    cache = HealthCache(clock)

    def check() -> tuple[int, dict]:
        calls.append(clock.now)
        return 200, {"status": "ok"}

    status, body = cache.answer(check, max_age=60)
    assert (status, body["cached"], body["age_seconds"]) == (200, False, 0.0)
    clock.now += 59
    status, body = cache.answer(check, max_age=60)
    assert (body["cached"], body["age_seconds"], len(calls)) == (True, 59.0, 1)
    clock.now += 1
    assert cache.answer(check, max_age=60)[1]["cached"] is False and len(calls) == 2
    assert cache.answer(check, max_age=60, force=True)[1]["cached"] is False and len(calls) == 3


def test_a_failure_is_cached_too_until_a_deep_check():
    clock, answers = ManualClock(), iter([(503, {"status": "degraded"}), (200, {"status": "ok"})])
    cache = HealthCache(clock)
    assert cache.answer(lambda: next(answers), max_age=60)[0] == 503
    assert cache.answer(lambda: next(answers), max_age=60)[0] == 503
    assert cache.answer(lambda: next(answers), max_age=60, force=True)[0] == 200


def test_while_one_request_refreshes_the_others_get_the_previous_answer_at_once():
    clock = ManualClock()
    cache = HealthCache(clock)
    cache.answer(lambda: (200, {"n": 1}), max_age=60)
    clock.now += 61
    entered, release = threading.Event(), threading.Event()

    def slow_check() -> tuple[int, dict]:
        entered.set()
        assert release.wait(10)
        return 200, {"n": 2}

    results: list = []
    refresher = threading.Thread(target=lambda: results.append(cache.answer(slow_check, max_age=60)))
    refresher.start()
    assert entered.wait(10)
    status, body = cache.answer(lambda: (500, {"n": "never called"}), max_age=60)
    assert (body["n"], body["cached"], body["age_seconds"]) == (1, True, 61.0)
    release.set()
    refresher.join(10)
    assert results[0][1]["n"] == 2 and cache.answer(slow_check, max_age=60)[1]["n"] == 2
