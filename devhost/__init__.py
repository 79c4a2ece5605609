"""A local stand-in for the Azure Functions host: `python -m devhost` (make run), or `DevHost` in-process.

The Functions host (Core Tools) cannot be installed on the project's machines, so this package serves
function_app's own FunctionApp as the Python worker indexes it: HTTP routes on
http://127.0.0.1:7071/api/..., timers on their NCRONTAB schedules, queue triggers from Storage queues.
Code outside the app's blueprints uses this package only in development and tests.
"""

from devhost.host import DEFAULT_FUNCTION_KEY, DevHost
from devhost.host_config import HostOptions
from devhost.index import FunctionIndexError, IndexedFunction, QueueOutput, index_app

__all__ = ["DEFAULT_FUNCTION_KEY", "DevHost", "FunctionIndexError", "HostOptions", "IndexedFunction",
           "QueueOutput", "index_app"]
