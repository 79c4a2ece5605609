"""A pass's Planner actions, run with bounded concurrency.

Why: a pass that creates 500 tasks makes 1,500 Graph calls (POST task, GET details, PATCH details), and
each waits a network round trip; one after another that is 150 s at 100 ms a call. Every action is about
its own link and task, so they can overlap: the Planner client is a thread-safe facade over one event
loop (shared/planner/loop.py), and the stores, the journal and the counters take locks. At most
`workers` actions run at once, so the load on Graph stays bounded; Graph's 429s are still honoured per
call (reads and If-Match writes wait and repeat, creates are never repeated: the claim is given back and
the next pass creates).

Buckets and owners are resolved before the pool starts, once each: two threads creating the same missing
bucket at once would leave an empty twin behind (ensure_bucket lists, creates, lists again; both would
create), and each would look up the same owner before the client's cache held it.
"""

from __future__ import annotations

from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Callable, Sequence

from shared.observability import get_logger
from shared.planner import PlannerError
from shared.reconcile.execute import Executor, Outcome
from shared.reconcile.plan import CREATING_KINDS, Action

log = get_logger(__name__)


def run_actions(executor: Executor, actions: Sequence[Action], workers: int,
                on_outcome: Callable[[Outcome], None]) -> None:
    """Run every action, at most `workers` at a time; `on_outcome` is called in this thread, in
    completion order. An exception an action does not turn into an outcome (a test's simulated crash)
    stops the submitting and is raised once the running actions have finished."""
    if workers <= 1 or len(actions) <= 1:
        for action in actions:
            on_outcome(executor.run(action))
        return
    _warm_caches(executor, actions)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pass-action") as pool:
        pending = set()
        queue = iter(actions)
        for action in queue:
            pending.add(pool.submit(executor.run, action))
            if len(pending) >= workers * 2:  # keep the pool busy without queueing the whole pass
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    on_outcome(future.result())
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                on_outcome(future.result())


def _warm_caches(executor: Executor, actions: Sequence[Action]) -> None:
    """Every bucket and owner the creations need, once each, before they run at once (the client caches
    them). A failure here is left to the creations, which report it one by one."""
    creations = [a.desired for a in actions if a.kind in CREATING_KINDS and a.desired is not None]
    planner = executor.ctx.planner
    for plan_id, bucket in sorted({(d.plan_id, d.bucket) for d in creations}):
        try:
            planner.ensure_bucket(plan_id, bucket)
        except PlannerError as exc:
            log.warning("bucket %r of plan %s could not be resolved: %s", bucket, plan_id, exc)
    for owner in sorted({d.owner_upn for d in creations if d.owner_upn}):
        try:
            planner.resolve_user(owner)
        except PlannerError as exc:
            log.warning("owner %s could not be resolved: %s", owner, exc)
