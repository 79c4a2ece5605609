"""Offline checks of .github/workflows: they parse, and name only things that exist.

A workflow that references a missing file, make target, repository variable or app setting only fails
on GitHub, after a push (and for deploy.yml, after a merge to main). These tests move that failure to
`make test`: every path and `make` target exists, every `${{ env.X }}` is defined, every repository
variable is documented in docs/DEPLOYMENT.md, every app setting named is a Settings field or a platform
setting, the Python version matches the Flex runtime in the template, and Azure sign-in is OIDC only.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
from ruamel.yaml import YAML

from shared.settings import Settings
from tests.test_infra import INFRA, PLATFORM_SETTINGS, flex_runtime, template

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
CI, DEPLOY = WORKFLOWS / "ci.yml", WORKFLOWS / "deploy.yml"

FILE_TOKEN = re.compile(r"(?<![\w$/.-])(\.{0,2}/?(?:[\w.-]+/)*[\w.-]+\.(?:txt|json|ya?ml|py|sh|bicep|toml|cfg|ini|md))\b")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
CONTEXT_NAME = re.compile(r"\b(env|vars|secrets)\.(\w+)")
UPPER_NAME = re.compile(r"(?<![\w$])\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|AzureWebJobs\w+)\b")
SHELL_REFERENCE = re.compile(r"\$\{?([A-Za-z_]\w*)")
# NAME=value where a shell statement starts (not `--settings NAME=value`, which is an argument).
SHELL_ASSIGNMENT = re.compile(r"(?:^\s*|[;&|(]\s*|\b(?:export|local|readonly)\s+)([A-Za-z_]\w*)=", re.MULTILINE)
# Variables GitHub Actions and bash provide (docs.github.com/actions/reference/variables-reference).
PROVIDED_VARIABLES = re.compile(r"^(GITHUB_\w+|RUNNER_\w+|CI|HOME|PATH|SECONDS|RANDOM|PWD)$")


@lru_cache(maxsize=None)
def load(path: Path) -> dict[str, Any]:
    workflow = YAML(typ="safe").load(path.read_text())
    assert isinstance(workflow, dict) and workflow.get("jobs"), f"{path.name} has no jobs"
    return workflow


def steps(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for job in workflow["jobs"].values():
        yield from job.get("steps") or []


def run_scripts(workflow: dict[str, Any]) -> Iterator[str]:
    for step in steps(workflow):
        if "run" in step:
            yield step["run"]


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def env_names(workflow: dict[str, Any]) -> set[str]:
    """Every name defined in an `env:` block at workflow, job or step level."""
    names = set(workflow.get("env") or {})
    for job in workflow["jobs"].values():
        names |= set(job.get("env") or {})
        for step in job.get("steps") or []:
            names |= set(step.get("env") or {})
    return names


def make_targets() -> set[str]:
    return set(re.findall(r"^([\w.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.MULTILINE))


def action_step(workflow: dict[str, Any], action: str) -> dict[str, Any]:
    [step] = [s for s in steps(workflow) if s.get("uses", "").split("@")[0].lower() == action.lower()]
    return step


ALL = pytest.mark.parametrize("path", [CI, DEPLOY], ids=["ci", "deploy"])


@ALL
def test_workflow_parses(path: Path) -> None:
    workflow = load(path)
    assert workflow["name"] and workflow["on"]


def test_ci_runs_make_test_on_push_and_pull_request() -> None:
    workflow = load(CI)
    assert {"push", "pull_request", "workflow_call"} <= set(workflow["on"])
    assert any(re.search(r"^\s*make test\s*$", script, re.MULTILINE) for script in run_scripts(workflow))


def _push_runs(workflow: dict[str, Any], branch: str) -> bool:
    """Does a push to `branch` start this workflow (GitHub's branches / branches-ignore filters)?"""
    if "push" not in workflow["on"]:
        return False
    push = workflow["on"]["push"] or {}
    if "branches" in push:
        return any(fnmatch.fnmatchcase(branch, pattern) for pattern in push["branches"])
    return not any(fnmatch.fnmatchcase(branch, pattern) for pattern in push.get("branches-ignore") or [])


def _test_runs(workflow: dict[str, Any]) -> int:
    """How many times the workflow runs `make test`: itself, or through jobs that call ci.yml."""
    direct = sum(bool(re.search(r"^\s*make test\s*$", s, re.MULTILINE)) for s in run_scripts(workflow))
    called = sum(job.get("uses") == "./.github/workflows/ci.yml" for job in workflow["jobs"].values())
    return direct + (called * _test_runs(load(CI)) if called else 0)


@pytest.mark.parametrize("branch", ["main", "feature/queue-scans"])
def test_a_push_runs_the_tests_exactly_once(branch: str) -> None:
    runs = sum(_test_runs(load(path)) for path in (CI, DEPLOY) if _push_runs(load(path), branch))
    assert runs == 1, f"a push to {branch} runs make test {runs} times"


def test_ci_compiles_the_bicep_templates_with_the_real_compiler() -> None:
    # tests/test_infra.py checks the templates offline; `az bicep build` is the compiler itself (the
    # GitHub runner has the Azure CLI). Building main.bicep builds every module it references.
    scripts = "\n".join(run_scripts(load(CI)))
    assert re.search(r"^\s*az bicep build --file infra/main\.bicep\b", scripts, re.MULTILINE)
    assert re.search(r"^\s*az bicep install\s*$", scripts, re.MULTILINE)


# Current majors, as Azure/functions-action's Flex Consumption Python OIDC workflow uses them
# (.github/workflows/test-workflow-python310-flexcon.yaml, Aug 2026) and actions/setup-node's README (v7).
ACTION_MAJORS = {"actions/checkout": "v7", "actions/setup-python": "v7", "actions/setup-node": "v7",
                 "azure/login": "v3", "azure/functions-action": "v1"}


@ALL
def test_actions_are_on_their_current_major(path: Path) -> None:
    for step in steps(load(path)):
        if "uses" in step and not step["uses"].startswith("./"):
            action, _, ref = step["uses"].partition("@")
            assert action.lower() in ACTION_MAJORS, f"{path.name}: {action} has no known current major"
            assert ref == ACTION_MAJORS[action.lower()], f"{path.name}: {action}@{ref}"


@ALL
def test_run_scripts_are_valid_bash(path: Path) -> None:
    # ubuntu runners run `run:` with bash -e; -n parses without executing anything.
    for script in run_scripts(load(path)):
        result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert result.returncode == 0, f"{path.name}: {result.stderr}\n{script}"


@ALL
def test_every_make_target_exists(path: Path) -> None:
    for script in run_scripts(load(path)):
        for target in re.findall(r"\bmake\s+([\w.-]+)", script):
            assert target in make_targets(), f"{path.name} runs `make {target}`, which the Makefile lacks"


@ALL
def test_every_file_named_exists(path: Path) -> None:
    workflow = load(path)
    named = set()
    for text in strings(workflow["jobs"]):
        named |= set(FILE_TOKEN.findall(EXPRESSION.sub("", text)))
    for job in workflow["jobs"].values():
        if str(job.get("uses", "")).startswith("./"):
            named.add(job["uses"])
    for step in steps(workflow):
        if str(step.get("uses", "")).startswith("./"):
            named.add(step["uses"])
    assert named, f"{path.name} names no file at all?"
    for name in named:
        assert (ROOT / name).exists(), f"{path.name} names {name}, which does not exist"


@ALL
def test_actions_are_pinned_to_a_version(path: Path) -> None:
    for text in [s.get("uses") for s in steps(load(path))] + [j.get("uses") for j in load(path)["jobs"].values()]:
        if text and not text.startswith("./"):
            owner_repo, _, ref = text.partition("@")
            assert ref and ref not in ("main", "master"), f"{path.name}: {text} floats on a branch"


@ALL
def test_expressions_name_defined_env_and_documented_variables(path: Path) -> None:
    workflow = load(path)
    guide = (ROOT / "docs" / "DEPLOYMENT.md").read_text()
    for text in strings(workflow):
        for expression in EXPRESSION.findall(text):
            for context, name in CONTEXT_NAME.findall(expression):
                if context == "env":
                    assert name in env_names(workflow), f"{path.name}: env.{name} is never defined"
                else:
                    assert f"`{name}`" in guide, f"{path.name} needs {context}.{name}; docs/DEPLOYMENT.md must say how to set it"


@ALL
def test_shell_variables_are_defined(path: Path) -> None:
    workflow = load(path)
    for script in run_scripts(workflow):
        assigned = set(SHELL_ASSIGNMENT.findall(script)) | set(re.findall(r"\bfor\s+(\w+)\s+in\b", script))
        for name in SHELL_REFERENCE.findall(script):
            assert name in assigned | env_names(workflow) or PROVIDED_VARIABLES.match(name), \
                f"{path.name}: ${name} is used but never defined"


@ALL
def test_app_settings_named_are_settings_fields_or_platform_settings(path: Path) -> None:
    workflow = load(path)
    not_settings = env_names(workflow)
    for text in strings(workflow):
        not_settings |= {name for _, name in CONTEXT_NAME.findall(text)}
    for script in run_scripts(workflow):
        not_settings |= set(SHELL_ASSIGNMENT.findall(script))
        for name in UPPER_NAME.findall(script):
            if name in not_settings or PROVIDED_VARIABLES.match(name):
                continue
            assert name in Settings.model_fields or PLATFORM_SETTINGS.match(name), \
                f"{path.name} mentions {name}: not a Settings field nor a platform setting"


def test_deploy_tests_first_with_the_ci_workflow() -> None:
    workflow = load(DEPLOY)
    assert workflow["jobs"]["test"]["uses"] == "./.github/workflows/ci.yml"
    assert "workflow_call" in load(CI)["on"]
    assert workflow["jobs"]["deploy"]["needs"] == "test"


def test_python_version_matches_the_flex_runtime() -> None:
    runtime = flex_runtime()["version"]
    assert load(DEPLOY)["env"]["PYTHON_VERSION"] == runtime
    assert action_step(load(CI), "actions/setup-python")["with"]["python-version"] == runtime


def test_azure_sign_in_is_oidc_for_the_environment_the_federated_credential_trusts() -> None:
    workflow = load(DEPLOY)
    job = workflow["jobs"]["deploy"]
    assert job["permissions"]["id-token"] == "write"
    login = action_step(workflow, "azure/login")["with"]
    assert set(login) == {"client-id", "tenant-id", "subscription-id"}, "no stored credentials (creds:)"
    assert not any("secrets." in text for text in strings(workflow)), "OIDC needs no secret"
    # The federated credential's subject is repo:<owner>/<repo>:environment:<name>.
    for bicep in (INFRA / "main.bicep", INFRA / "app" / "github-deployer.bicep"):
        assert template(bicep).params["githubEnvironment"]["default"] == job["environment"]


def test_deploy_ships_the_app_and_the_funcignore_keeps_what_it_needs() -> None:
    deploy = action_step(load(DEPLOY), "Azure/functions-action")["with"]
    package = ROOT / deploy["package"]
    assert (package / "host.json").is_file() and (package / "requirements.txt").is_file()
    assert str(deploy["respect-funcignore"]).lower() == "true"
    patterns = [line.strip().rstrip("/") for line in (package / ".funcignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in ("host.json", "requirements.txt", "shared", "function_app.py", ".python_packages"):
        assert not any(fnmatch.fnmatch(needed, pattern) for pattern in patterns), f".funcignore drops {needed}"
    packaging = next(script for script in run_scripts(load(DEPLOY)) if "--target" in script)
    assert ".python_packages/lib/site-packages" in packaging and "-r requirements.txt" in packaging
