"""Command line: `python -m shared <subcommand> ...`.

Subcommands register in SUBCOMMANDS as (help, configure_parser, run); `run` returns the exit code.
Exit codes: 0 success, 2 invalid input (the same code argparse uses for a bad command line), 3 a service
the command needs could not be asked, so CI can tell "the rules file is wrong" from an outage and from a
crash (1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

from shared.rules import AccountMismatch, RulesError, RulesFile, account_problems, load_rules
from shared.rules.account import stage_option_problems, writes_stages

EXIT_OK = 0
EXIT_INVALID = 2
EXIT_UPSTREAM = 3  # a service the command needs (Plytix, Graph, storage) could not be asked
EXIT_CRASH = 1

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _configure_validate_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="path of the YAML rules file")
    parser.add_argument("--against-plytix", action="store_true",
                        help="also check that every attribute the rules name exists in the Plytix account, "
                             "and that every stage on_complete can write is an option of the workflow-stage "
                             "dropdown (reads GET /api/v1/filters/product and the dropdown's definition with "
                             "the PLYTIX_* app settings from the environment)")


def _run_validate_rules(args: argparse.Namespace) -> int:
    try:
        rules_file = load_rules(args.file)
        if args.against_plytix:
            _check_against_plytix(rules_file)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except _Upstream as exc:
        print(exc, file=sys.stderr)
        return EXIT_UPSTREAM
    ids = ", ".join(rule.id for rule in rules_file.rules)
    disabled = [rule.id for rule in rules_file.rules if not rule.enabled]
    note = f"; disabled: {', '.join(disabled)}" if disabled else ""
    count = len(rules_file.rules)
    checked = "; every attribute they name exists in the Plytix account" if args.against_plytix else ""
    if args.against_plytix and writes_stages(rules_file, include_disabled=True):
        checked += f"; every stage on_complete writes is an option of '{rules_file.workflow_stage_attribute}'"
    print(f"{args.file}: {count} rule{'' if count == 1 else 's'} OK ({ids}{note}){checked}")
    return EXIT_OK


class _Upstream(Exception):
    """Plytix could not be asked (settings missing, credentials refused, service down): one line."""


def _check_against_plytix(rules_file: RulesFile) -> None:
    """Raise AccountMismatch (a RulesError: file:line, field, nearest label or option) for every attribute
    the rules name, disabled rules included, that the account's filter listing does not have, and for
    every stage on_complete can write that the workflow-stage dropdown does not offer."""
    import os

    from shared.plytix import PlytixClient, PlytixError, search_schema
    from shared.settings import SettingsError, load_settings

    # Only the PLYTIX_* settings matter here: a storage setting, which Settings insists on, is filled in
    # when absent so that checking rules does not need a storage account.
    environ = {"STORAGE_TABLE_ENDPOINT": "https://unused.table.core.windows.net", **os.environ}
    try:
        with PlytixClient.from_settings(load_settings(environ)) as plytix:
            labels = search_schema(plytix).attribute_labels
            dropdown = (plytix.find_attribute(rules_file.workflow_stage_attribute)
                        if writes_stages(rules_file, include_disabled=True) else None)
    except SettingsError as exc:
        raise _Upstream(f"cannot check against Plytix: {exc}") from None
    except PlytixError as exc:
        raise _Upstream(f"cannot check against Plytix: {exc}") from None
    problems = account_problems(rules_file, labels, include_disabled=True)
    problems += stage_option_problems(rules_file, dropdown, include_disabled=True)
    if problems:
        raise AccountMismatch(problems)


def _configure_scan(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="plan only: print the actions (create/update/close, each with its reason), "
                             "write nothing to Planner or Table Storage")
    parser.add_argument("--rule", action="append", dest="rules", metavar="ID",
                        help="only this rule (repeatable); default: every enabled rule")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")


def _run_scan(args: argparse.Namespace) -> int:
    """A full sweep with the app settings from the environment (real accounts or the sandbox)."""
    import json

    from shared.runtime import scan_deps
    from shared.scan import run_full_scan
    from shared.settings import SettingsError

    try:
        report = run_full_scan(scan_deps(), dry_run=args.dry_run, rule_ids=args.rules)
    except (SettingsError, RulesError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    body = report.to_json()
    # A pass that skipped work (a plan it could not list, a task Graph refused) still reports what it did,
    # but does not exit 0: a script or CI step running `scan` must notice.
    outcome = EXIT_UPSTREAM if body["errors"] else EXIT_OK
    if args.json:
        print(json.dumps(body, indent=2))
        return outcome
    for action in body["actions"]:
        print(f"{action['action']:<15} {action['title'][:70]:<70} {action['reason']}")
    print(f"{'dry run' if args.dry_run else 'scan'} {body['run_id']}: {body['products_seen']} products, "
          f"{body['findings']} findings, planned {body['planned']}, done {body['done']}, "
          f"API calls {body['api_calls']}")
    for error in body["errors"]:
        print(f"error: {error}", file=sys.stderr)
    return outcome


SUBCOMMANDS: dict[str, tuple[str, Configure, Run]] = {
    "validate-rules": ("check a rules file; print every problem as FILE:LINE: field: message",
                       _configure_validate_rules, _run_validate_rules),
    "scan": ("run a full sweep now; with --dry-run, preview the actions without writing anything",
             _configure_scan, _run_scan),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared", description="Plytix-Planner automation tools")
    parser.add_argument("--debug", action="store_true",
                        help="on an unexpected failure, print the traceback instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, configure, run) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run a subcommand. A service that fails past the point a subcommand handles it (Plytix down in the
    middle of a scan, Graph refusing the app, storage unreachable) is one line and exit 3, named as the
    HTTP API names it (shared/upstream_errors.py); anything else is one line and exit 1, with the
    traceback only under --debug."""
    from shared.upstream_errors import upstream_answer

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except Exception as exc:  # the edge: one line for people, the traceback on request
        if args.debug:
            raise
        answer = upstream_answer(exc)
        if answer is not None:
            print(f"{answer[1]['service']}: {answer[1]['error']}", file=sys.stderr)
            return EXIT_UPSTREAM
        # Only the type: a message can carry a connection string or a URL with a signature.
        print(f"unexpected failure ({type(exc).__name__}); run with --debug for the traceback", file=sys.stderr)
        return EXIT_CRASH
