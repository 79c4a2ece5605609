"""Queue trigger of on-demand scans: runs the scan POST /api/scans queued. The work is shared.ondemand.work.

A failure is raised, so the host retries it (host.json maxDequeueCount) and then moves the message to
`<QUEUE_PREFIX>-scans-poison`, which /api/health reports (shared.queues.WATCHED_QUEUES).
"""

from __future__ import annotations

import azure.functions as func

from shared import ondemand, queues
from shared.runtime import scan_deps

bp = func.Blueprint()


@bp.function_name("scan_worker")
@bp.queue_trigger(arg_name="msg", queue_name=queues.binding(queues.SCANS), connection="AzureWebJobsStorage")
def scan_worker(msg: func.QueueMessage) -> None:
    ondemand.work(scan_deps(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)
