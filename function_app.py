"""Azure Functions entry point (Python v2 programming model): sets up telemetry, registers the blueprints."""

import azure.functions as func

from shared import telemetry
from shared.blueprints import channels, http_api, pages, planner_notifications, projects, scan_worker, timers

telemetry.configure()  # before any client exists; see shared/telemetry.py for what each environment gets

app = func.FunctionApp()
app.register_functions(http_api.bp)
app.register_functions(timers.bp)
app.register_functions(scan_worker.bp)
app.register_functions(channels.bp)
app.register_functions(planner_notifications.bp)
app.register_functions(pages.bp)
app.register_functions(projects.bp)
