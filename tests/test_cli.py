"""`python -m shared validate-rules FILE`, run as a real subprocess the way CI and people run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

from tests.conftest import ROOT
from tests.rules_text import HEAD

VALID = HEAD + """\
  - id: core
    type: required_attributes
    name: Core content
    require: [description]
  - id: images
    type: required_attributes
    name: Images
    enabled: false
    require:
      - attribute: images
        kind: media
        min_count: 3
"""


def run_cli(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shared", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_example_file_is_valid() -> None:
    result = run_cli("validate-rules", "rules.example.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("rules.example.yaml: 8 rules OK (core-content, marketplace-ready, "
                             "weight-for-shipping, launch, regulated-review, channel-specs, data-quality, "
                             "spring-refresh; disabled: weight-for-shipping)\n")
    assert result.stderr == ""


def test_valid_file_prints_one_summary_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID, encoding="utf-8")
    result = run_cli("validate-rules", str(path))
    assert (result.returncode, result.stdout, result.stderr) == \
        (0, f"{path}: 2 rules OK (core, images; disabled: images)\n", "")


def test_invalid_file_exits_2_with_every_problem_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID.replace("min_count: 3", "min_count: 0").replace("name: Core content",
                                                                          "name: Core content\n    priority: 11"),
                    encoding="utf-8")
    result = run_cli("validate-rules", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:10: rules[0].priority: 11 is out of range: use 0-10 or urgent, important, medium, low",
        f"{path}:19: rules[1].require[0].min_count: must be 1 or more (got 0)",
    ]


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nrules:\n  - id: core\n   name: x\n", encoding="utf-8")
    result = run_cli("validate-rules", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"{path}:4: yaml: ")


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("validate-rules", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2
    assert result.stderr == f"{tmp_path / 'absent.yaml'}: (file): cannot read: No such file or directory\n"


def test_usage_errors_exit_2() -> None:
    no_command = run_cli()
    assert no_command.returncode == 2 and "COMMAND" in no_command.stderr
    no_file = run_cli("validate-rules")
    assert no_file.returncode == 2 and "FILE" in no_file.stderr
    assert run_cli("--help").stdout.count("validate-rules") >= 1


def _scan_env(plytix: Any, graph: Any, azurite: str, prefix: str, rules: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLYTIX_", "GRAPH_", "STORAGE_"))}
    env.update({"RULES_FILE": str(rules), "PLYTIX_API_KEY": "sandbox-api-key",
                "PLYTIX_API_PASSWORD": "sandbox-api-password", "PLYTIX_BASE_URL": plytix.url,
                "PLYTIX_AUTH_URL": plytix.url, "PLYTIX_RATE_PER_10S": "1000", "GRAPH_AUTH_MODE": "development",
                "GRAPH_BASE_URL": f"{graph.url}/v1.0", "STORAGE_CONNECTION_STRING": azurite, "TABLE_PREFIX": prefix})
    return env


def test_scan_dry_run_previews_actions_from_the_command_line(plytix_sandbox, graph_sandbox, azurite, table_prefix,
                                                            tmp_path: Path) -> None:
    from sandbox.graph_state import PRODUCT_DATA_PLAN_ID
    from tests.scan_world import RULES_YAML

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    env = _scan_env(plytix_sandbox, graph_sandbox, azurite, table_prefix, rules)
    result = run_cli("scan", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("dry run ") and "200 products" in lines[-1]
    creates = [line for line in lines if line.startswith("create ")]
    assert creates and all("missing: " in line for line in creates)
    assert graph_sandbox.sandbox.plan_tasks(PRODUCT_DATA_PLAN_ID) == []


def test_scan_names_a_missing_setting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLYTIX_", "GRAPH_", "STORAGE_"))}
    result = run_cli("scan", "--dry-run", env=env)
    assert result.returncode == 2
    assert "PLYTIX_API_KEY: missing" in result.stderr and "Traceback" not in result.stderr


def _plytix_env(plytix: Any, password: str = "sandbox-api-password") -> dict[str, str]:
    """Only the PLYTIX_* settings: checking rules against the account needs no storage or Graph."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLYTIX_", "GRAPH_", "STORAGE_"))}
    env.update({"PLYTIX_API_KEY": "sandbox-api-key", "PLYTIX_API_PASSWORD": password,
                "PLYTIX_BASE_URL": plytix.url, "PLYTIX_AUTH_URL": plytix.url})
    return env


def test_against_plytix_passes_when_every_attribute_exists(plytix_sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID.replace("[description]", "[short_description]"), encoding="utf-8")
    result = run_cli("validate-rules", str(path), "--against-plytix", env=_plytix_env(plytix_sandbox))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.endswith("every attribute they name exists in the Plytix account\n")


def test_against_plytix_names_file_line_and_the_nearest_label(plytix_sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    # `short_desc` and `imagez` are well-formed labels: only the account can say they do not exist.
    path.write_text(VALID.replace("[description]", "[short_desc]").replace("attribute: images", "attribute: imagez"),
                    encoding="utf-8")
    assert run_cli("validate-rules", str(path)).returncode == 0
    result = run_cli("validate-rules", str(path), "--against-plytix", env=_plytix_env(plytix_sandbox))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:10: rules[0].require[0].attribute: attribute 'short_desc' does not exist in the Plytix account "
        "(did you mean 'short_description'?)",
        f"{path}:16: rules[1].require[0].attribute: attribute 'imagez' does not exist in the Plytix account "
        "(did you mean 'images'?)",
    ]


def test_against_plytix_says_when_plytix_cannot_be_asked(plytix_sandbox: Any, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID, encoding="utf-8")
    result = run_cli("validate-rules", str(path), "--against-plytix",
                     env=_plytix_env(plytix_sandbox, password="wrong-password"))
    assert result.returncode == 3
    assert result.stderr.startswith("cannot check against Plytix: ") and "Traceback" not in result.stderr
    assert "wrong-password" not in result.stderr


STAGED = HEAD.replace("rules:\n", "workflow_stages: [draft, enrichment, approved, Ready_For_Syndication, live]\nrules:\n") + """\
  - id: final-review
    type: required_attributes
    name: Final review
    require: [short_description]
    on_complete: {stage: next}
  - id: go-live
    type: required_attributes
    name: Go live
    enabled: false
    require: [short_description]
    on_complete: {stage: publishd}
"""


def test_against_plytix_checks_the_stages_on_complete_writes_against_the_dropdown(plytix_sandbox: Any,
                                                                               tmp_path: Path) -> None:
    """The stand-in's `workflow_stage` dropdown offers draft, enrichment, approved, ready_for_syndication
    and published (sandbox/catalog.py), served by the attributes search as the collection documents it."""
    path = tmp_path / "rules.yaml"
    text = STAGED.replace("stage: publishd", "stage: live")  # a disabled rule is checked too
    path.write_text(text, encoding="utf-8")
    assert run_cli("validate-rules", str(path)).returncode == 0  # the file itself is consistent
    result = run_cli("validate-rules", str(path), "--against-plytix", env=_plytix_env(plytix_sandbox))
    assert result.returncode == 2 and result.stdout == ""
    lines = text.splitlines()
    line = next(n for n, t in enumerate(lines, 1) if t.startswith("workflow_stages:"))
    named = len(lines)  # go-live's on_complete is the file's last line
    assert result.stderr.splitlines() == [
        f"{path}:{line}: workflow_stages[3]: stage 'Ready_For_Syndication' is not an option of the Plytix dropdown "
        "'workflow_stage' (the dropdown spells it 'ready_for_syndication'; Plytix takes only the exact option)",
        f"{path}:{line}: workflow_stages[4]: stage 'live' is not an option of the Plytix dropdown 'workflow_stage' "
        "(its options: draft, enrichment, approved, ready_for_syndication, published)",
        f"{path}:{named}: rules[1].on_complete.stage: stage 'live' is not an option of the Plytix dropdown "
        "'workflow_stage' (its options: draft, enrichment, approved, ready_for_syndication, published)",
    ]
    fixed = STAGED.replace("Ready_For_Syndication, live", "ready_for_syndication, published")
    path.write_text(fixed, encoding="utf-8")
    unknown = run_cli("validate-rules", str(path))
    assert unknown.returncode == 2 and "rules[1].on_complete.stage: unknown stage 'publishd'" in unknown.stderr
    path.write_text(fixed.replace("stage: publishd", "stage: Published"), encoding="utf-8")
    ok = run_cli("validate-rules", str(path), "--against-plytix", env=_plytix_env(plytix_sandbox))
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.endswith("every stage on_complete writes is an option of 'workflow_stage'\n")


def _scan_env_failing(sandbox: Any, endpoint: str, plytix_sandbox: Any, graph_sandbox: Any, azurite: str,
                      table_prefix: str, tmp_path: Path) -> dict[str, str]:
    """The scan's settings, with every call to `endpoint` of `sandbox` answered 401."""
    import httpx

    from tests.scan_world import RULES_YAML

    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_YAML)
    httpx.post(f"{sandbox.url}/_sandbox/faults",
               json={"endpoint": endpoint, "kind": "status", "status": 401, "count": 100}).raise_for_status()
    return _scan_env(plytix_sandbox, graph_sandbox, azurite, table_prefix, rules)


def test_a_service_failing_mid_scan_is_one_line_and_exit_3(plytix_sandbox, graph_sandbox, azurite, table_prefix,
                                                           tmp_path: Path) -> None:
    """Plytix refusing the credentials past the point `scan` handles errors: one line naming the service and
    the settings to check, exit 3, no traceback; --debug shows the traceback for a bug report."""
    env = _scan_env_failing(plytix_sandbox, "plytix.search", plytix_sandbox, graph_sandbox, azurite, table_prefix,
                            tmp_path)
    result = run_cli("scan", "--dry-run", env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("plytix: ") and "PLYTIX_API_PASSWORD" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert "sandbox-api-password" not in result.stderr

    debug = run_cli("--debug", "scan", "--dry-run", env=env)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_scan_that_skipped_a_plan_says_so_and_exits_3(plytix_sandbox, graph_sandbox, azurite, table_prefix,
                                                        tmp_path: Path) -> None:
    """A plan Graph will not list: the pass does the rest and reports, but the exit status is not 0."""
    env = _scan_env_failing(graph_sandbox, "graph.list_plan_tasks", plytix_sandbox, graph_sandbox, azurite,
                            table_prefix, tmp_path)
    result = run_cli("scan", "--dry-run", env=env)
    assert result.returncode == 3, result.stderr
    assert "200 products" in result.stdout
    assert result.stderr.startswith("error: plan ") and "cannot list its tasks" in result.stderr
