"""Azure Functions entry point (Python v2 programming model): registers the blueprints, nothing else."""

import azure.functions as func

from shared.blueprints import http_api, scan_worker, timers

app = func.FunctionApp()
app.register_functions(http_api.bp)
app.register_functions(timers.bp)
app.register_functions(scan_worker.bp)
