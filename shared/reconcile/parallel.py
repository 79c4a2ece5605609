"""A pass's Planner actions, run with bounded concurrency.

Why: a pass that creates 500 tasks makes 1,500 Graph calls (POST task, GET details, PATCH details), and
each waits a network round trip; one after another that is 150 s at 100 ms a call. Every action is about
its own link and task, so they can overlap: the Planner client is a thread-safe facade over one event
loop (shared/planner/loop.py), and the stores, the journal and the counters take locks. At most
`workers` actions run at once, so the load on Graph stays bounded; Graph's 429s are still honoured per
call (reads and If-Match writes wait and repeat, creates are never repeated: the claim is given back and
the next pass creates).

The Planner client's caches of owners and buckets look a missing entry up once however many actions
ask at once (shared/planner/client.py, `_cached`): two creates making the same missing bucket would
otherwise leave an empty twin behind.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Callable, Sequence

from shared.reconcile.execute import Executor, Outcome
from shared.reconcile.plan import Action


def run_actions(executor: Executor, actions: Sequence[Action], workers: int,
                on_outcome: Callable[[Outcome], None]) -> None:
    """Run every action, at most `workers` at a time; `on_outcome` is called in this thread, in
    completion order. An exception an action does not turn into an outcome (a test's simulated crash)
    stops the submitting and is raised once the running actions have finished."""
    if workers <= 1 or len(actions) <= 1:
        for action in actions:
            on_outcome(executor.run(action))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pass-action") as pool:
        pending: set[Future[Outcome]] = set()
        for action in actions:
            pending.add(pool.submit(executor.run, action))
            if len(pending) >= workers * 2:  # keep the pool busy without queueing the whole pass
                pending = _report_finished(pending, on_outcome)
        while pending:
            pending = _report_finished(pending, on_outcome)


def _report_finished(pending: set[Future[Outcome]], on_outcome: Callable[[Outcome], None]) -> set[Future[Outcome]]:
    """Wait for at least one action; hand each finished one's outcome on (raising what an action raised);
    return those still running."""
    done, still_running = wait(pending, return_when=FIRST_EXCEPTION)
    for future in done:
        on_outcome(future.result())
    return still_running
