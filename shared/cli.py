"""Command line: `python -m shared <subcommand> ...`.

Subcommands register in SUBCOMMANDS as (help, configure_parser, run); `run` returns the exit code.
Exit codes: 0 success, 2 invalid input (the same code argparse uses for a bad command line), so CI can
tell "the rules file is wrong" from a crash (1).
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

from shared.rules import RulesError, load_rules

EXIT_OK = 0
EXIT_INVALID = 2

Configure = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]


def _configure_validate_rules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="path of the YAML rules file")


def _run_validate_rules(args: argparse.Namespace) -> int:
    try:
        rules_file = load_rules(args.file)
    except RulesError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    ids = ", ".join(rule.id for rule in rules_file.rules)
    disabled = [rule.id for rule in rules_file.rules if not rule.enabled]
    note = f"; disabled: {', '.join(disabled)}" if disabled else ""
    count = len(rules_file.rules)
    print(f"{args.file}: {count} rule{'' if count == 1 else 's'} OK ({ids}{note})")
    return EXIT_OK


SUBCOMMANDS: dict[str, tuple[str, Configure, Run]] = {
    "validate-rules": ("check a rules file; print every problem as FILE:LINE: field: message",
                       _configure_validate_rules, _run_validate_rules),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shared", description="Plytix-Planner automation tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, configure, run) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(run=run)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)
