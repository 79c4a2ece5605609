"""Find Bicep expressions that must be known when a deployment starts but are only known during it.

Why this exists: no Bicep CLI can run here, and a template that breaks this rule does not compile
(BCP178: "This expression is being used in the for-expression, which requires a value that can be
calculated at the start of the deployment"; BCP120 says the same of a resource's `name`). Bicep's rule
(learn.microsoft.com/azure/azure-resource-manager/bicep/bicep-error-bcp178 and bcp120): of a resource,
only `id`, `name`, `type` and `apiVersion` are known at the start; its `properties` (and any other member,
or the whole resource object) are not; a module's `outputs` are not; neither are `reference()` and the
`list*()` functions. Parameters are. A variable is known when everything it uses is, so variables are
followed to what they are built from. Azure/bicep#1917 is the App Insights app-settings case that
infra/app/function-app.bicep once had (tests/fixtures/bicep/bcp178_old_app_settings.bicep keeps it).

Works on pycep-parser trees. pycep does not tell an identifier from a string literal, so a string is a
reference when it names a variable, resource or module of the same file (as tests/test_infra.py does);
`${...}` interpolations are scanned for `symbol.member` references. A string equal to a resource or module
symbol, without a member, is taken for a literal: a whole resource object cannot be a name or a loop input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator, Optional

# Members of a resource that Bicep can calculate at the start of the deployment.
START_KNOWN_RESOURCE_MEMBERS = frozenset({"id", "name", "type", "apiVersion"})
START_KNOWN_MODULE_MEMBERS = frozenset({"name"})
_RUNTIME_FUNCTION = re.compile(r"^(reference|list\w*)$", re.IGNORECASE)
_INTERPOLATION = re.compile(r"\$\{([^}]*)\}")
_REFERENCE_IN_TEXT = re.compile(r"(?<![\w.'])([A-Za-z_]\w*)((?:\.\w+)*)(\s*\()?")


@dataclass(frozen=True)
class Violation:
    """One place that needs a start-of-deployment value, and the chain that makes it a runtime one."""

    where: str  # e.g. "for-expression at resources.site.properties.siteConfig.appSettings"
    chain: tuple[str, ...]  # e.g. ("allSettings", "platformSettings", "applicationInsights.properties...")

    def __str__(self) -> str:
        return f"{self.where} depends on a value known only during the deployment: {' -> '.join(self.chain)}"


def violations(tree: dict[str, Any]) -> list[Violation]:
    """Every for-expression input and every resource or module `name` that is not known at the start."""
    checker = _Checker(tree)
    found = []
    for where, expression in checker.start_time_inputs():
        chain = checker.runtime_chain(expression)
        if chain is not None:
            found.append(Violation(where, chain))
    return found


class _Checker:
    def __init__(self, tree: dict[str, Any]) -> None:
        self.tree = tree
        self.variables = tree.get("variables") or {}
        self.resources = tree.get("resources") or {}
        self.modules = tree.get("modules") or {}

    # --- where Bicep needs a start-of-deployment value -----------------------------------------------

    def start_time_inputs(self) -> Iterator[tuple[str, Any]]:
        yield from self._loops(self.tree, [])
        for kind, declarations in (("resource", self.resources), ("module", self.modules)):
            for symbol, declaration in declarations.items():
                body = _unwrap(declaration.get("config"))
                if isinstance(body, dict) and "name" in body:
                    yield f"the name of {kind} {symbol}", body["name"]

    def _loops(self, value: Any, path: list[str]) -> Iterator[tuple[str, Any]]:
        if isinstance(value, dict):
            loop = value.get("loop_type")
            if isinstance(loop, dict):
                detail = {k: v for k, v in (loop.get("detail") or {}).items() if k not in ("item_name", "index_name")}
                yield f"for-expression at {'.'.join(path)}", detail
            for key, item in value.items():
                yield from self._loops(item, path + [str(key)] if key not in ("config", "value") else path)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                yield from self._loops(item, path + [f"[{index}]"])

    # --- is an expression known at the start? --------------------------------------------------------

    def runtime_chain(self, value: Any, seen: frozenset[str] = frozenset()) -> Optional[tuple[str, ...]]:
        """None when `value` is known at the start; else the references leading to the runtime value."""
        if isinstance(value, str):
            return self._string(value, seen)
        if isinstance(value, list):
            return _first(self.runtime_chain(item, seen) for item in value)
        if not isinstance(value, dict):
            return None
        if _is_node(value):
            kind, node = next(iter(value.items()))
            if kind == "operator" and node.get("type") == "property_accessor":
                chain = _accessor_chain(value)
                if chain is not None:
                    return self._reference(chain[0], chain[1:], seen)
            if kind == "function" and _RUNTIME_FUNCTION.match(str(node.get("type", ""))):
                return (f"{node['type']}(...)",)
            args = node.get("parameters" if kind == "function" else "operands") or {}
            return _first(self.runtime_chain(arg, seen) for arg in args.values())
        return _first(self.runtime_chain(item, seen) for item in value.values())

    def _string(self, text: str, seen: frozenset[str]) -> Optional[tuple[str, ...]]:
        if text in self.variables:
            return self._reference(text, [], seen)
        # A bare resource or module symbol is an object, which no name or loop input can be; a plain
        # string equal to a symbol ('monitoring' as the name of module monitoring) is a literal.
        for inner in _INTERPOLATION.findall(text):
            for symbol, members, call in _REFERENCE_IN_TEXT.findall(inner):
                if call and _RUNTIME_FUNCTION.match(symbol):
                    return (f"{symbol}(...)",)
                chain = self._reference(symbol, [m for m in members.split(".") if m], seen)
                if chain is not None:
                    return chain
        return None

    def _reference(self, symbol: str, members: list[str], seen: frozenset[str]) -> Optional[tuple[str, ...]]:
        """`symbol.member.member...`: a variable is followed; a resource or module is checked."""
        shown = ".".join([symbol, *members])
        if symbol in self.variables and symbol not in seen:
            value = self.variables[symbol]["value"]
            # `var.key` of an object literal: follow only that key (other keys do not matter here).
            if members and isinstance(value, dict) and not _is_node(value) and members[0] in value:
                value = value[members[0]]
            chain = self.runtime_chain(value, seen | {symbol})
            return None if chain is None else (shown, *chain)
        if symbol in self.resources:
            if not members or members[0] not in START_KNOWN_RESOURCE_MEMBERS:
                return (shown,)
        elif symbol in self.modules:
            if not members or members[0] not in START_KNOWN_MODULE_MEMBERS:
                return (shown,)
        return None


def _is_node(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in ("function", "operator")


def _accessor_chain(value: Any) -> Optional[list[str]]:
    """`a.b.c` as ["a", "b", "c"]; pycep nests accessors to the right. None for `f().x` and the like."""
    if isinstance(value, str):
        return [value]
    if _is_node(value) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        head, rest = operands["operand_1"], _accessor_chain(operands["operand_2"])
        if isinstance(head, str) and rest is not None:
            return [head, *rest]
    return None


def _unwrap(config: Any) -> Any:
    """A declaration body without its loop/condition wrapper."""
    while isinstance(config, dict) and "config" in config and set(config) <= {"condition", "loop_type", "config"}:
        config = config["config"]
    return config


def _first(chains: Iterator[Optional[tuple[str, ...]]]) -> Optional[tuple[str, ...]]:
    return next((chain for chain in chains if chain is not None), None)
