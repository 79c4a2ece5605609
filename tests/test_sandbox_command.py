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


def test_latency_flags_hold_back_each_answer_and_can_be_changed_at_run_time() -> None:
    """--graph-latency-ms 300 with 50 ms jitter: a Graph answer takes at least 250 ms (a lower bound, not
    a timing race); PUT /_sandbox/latency changes it, and refuses a negative value with 422."""
    plytix_port, graph_port = free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--plytix-port", str(plytix_port),
                             "--graph-port", str(graph_port), "--products", "5", "--graph-latency-ms", "300",
                             "--latency-jitter-ms", "50"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(plytix_port, 30)
        wait_for_port(graph_port, 30)
        graph = httpx.get(f"http://127.0.0.1:{graph_port}/v1.0/planner/plans/{PRODUCT_DATA_PLAN_ID}",
                          headers={"Authorization": f"Bearer {DEV_TOKEN}"})
        assert graph.status_code == 200 and graph.elapsed.total_seconds() >= 0.25  # 300 - 50 ms jitter
        changed = httpx.put(f"http://127.0.0.1:{graph_port}/_sandbox/latency", json={"ms": 0})
        assert changed.json() == {"ms": 0.0, "jitter_ms": 0.0}
        bad = httpx.put(f"http://127.0.0.1:{plytix_port}/_sandbox/latency", json={"ms": -1})
        assert bad.status_code == 422 and "between 0 and 60000" in bad.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_a_negative_latency_flag_is_refused_with_its_name() -> None:
    result = subprocess.run([sys.executable, "-m", "sandbox", "--graph-latency-ms", "-5"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--graph-latency-ms" in result.stderr


def test_latency_stays_within_its_jitter_and_never_below_zero() -> None:
    from sandbox.base import Latency

    latency = Latency(100, 20, seed=2)
    delays = [latency.seconds() for _ in range(500)]
    assert all(0.080 <= d <= 0.120 for d in delays) and len(set(delays)) > 100  # jittered, within bounds
    assert all(d >= 0 for d in (Latency(5, 50, seed=3).seconds() for _ in range(500)))
    assert Latency().seconds() == 0.0
