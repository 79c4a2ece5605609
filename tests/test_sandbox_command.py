"""`python -m sandbox` (make sandbox): both stand-ins start on the given ports, answer with the printed
development credentials, and stop cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx

from devhost.azurite import free_port, wait_for_port
from sandbox.graph import DEV_TOKEN
from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
from tests.conftest import ROOT


def test_python_m_sandbox_serves_both_stand_ins_until_sigterm() -> None:
    plytix_port, graph_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--plytix-port", str(plytix_port),
                             "--graph-port", str(graph_port), "--products", "30", "--seed", "3"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(plytix_port, 30)
        wait_for_port(graph_port, 30)
        token = httpx.post(f"http://127.0.0.1:{plytix_port}/auth/api/get-token",
                           json={"api_key": "sandbox-api-key", "api_password": "sandbox-api-password"})
        access = token.json()["data"][0]["access_token"]
        found = httpx.post(f"http://127.0.0.1:{plytix_port}/api/v1/products/search",
                           json={"filters": []}, headers={"Authorization": f"Bearer {access}"})
        assert found.json()["pagination"]["total_count"] == 30
        plan = httpx.get(f"http://127.0.0.1:{graph_port}/v1.0/planner/plans/{PRODUCT_DATA_PLAN_ID}",
                         headers={"Authorization": f"Bearer {DEV_TOKEN}"})
        assert plan.status_code == 200 and plan.json()["title"] == "Product data"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert f"PLYTIX_BASE_URL=http://127.0.0.1:{plytix_port}" in output
    assert f"GRAPH_BASE_URL=http://127.0.0.1:{graph_port}/v1.0" in output
