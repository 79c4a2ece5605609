"""Read YAML keeping the line of every key and list item, so validation errors can point at a line.

Why ruamel.yaml's round-trip loader: its containers remember where each key and item started
(`CommentedMap.lc.key(k)`, `CommentedSeq.lc.item(i)`), which plain `yaml.safe_load` forgets. Validation
runs on a plain-Python copy (dict/list/str/int/float/bool/None) so ruamel's scalar subclasses never leak
into the models; the round-trip tree is kept only to look lines up.

Duplicate keys are found on the composed node tree before construction, so the message can say where
the first occurrence was and which field path holds them (ruamel's own DuplicateKeyError names neither).
The same walk rejects an alias that contains itself, which would otherwise recurse without end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from shared.rules.errors import PathPart, Problem, RulesError, format_path

_MERGE_KEY = "<<"


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data for validation plus the round-trip tree for line numbers."""

    filename: str
    data: Any
    tree: Any

    def line_of(self, path: Sequence[PathPart]) -> int:
        """1-based line of the deepest node along `path` that exists in the file.

        A path that ends in a key the file does not have (a missing required key) gives the line of the
        mapping that should contain it, which is where a person has to add it."""
        node = self.tree
        line = _container_line(node)
        for part in path:
            if isinstance(node, CommentedMap) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        return line

    def problem(self, path: Sequence[PathPart], message: str) -> Problem:
        return Problem(self.filename, self.line_of(path), format_path(path), message)


def load_yaml(text: str, filename: str) -> YamlDocument:
    """Parse `text`; raise RulesError for syntax errors and duplicate keys (with file and line)."""
    yaml = YAML(typ="rt")
    try:
        node = yaml.compose(text)
        structure_problems = list(_structure_problems(node, (), filename))
        if structure_problems:
            raise RulesError(structure_problems)
        tree = yaml.load(text)
    except MarkedYAMLError as exc:
        raise RulesError([_syntax_problem(exc, filename)]) from None
    except YAMLError as exc:  # errors without a position (rare: e.g. reader errors)
        raise RulesError([Problem(filename, 1, "yaml", str(exc).strip())]) from None
    return YamlDocument(filename=filename, data=_plain(tree), tree=tree)


def _container_line(node: Any) -> int:
    if isinstance(node, (CommentedMap, CommentedSeq)) and node.lc.line is not None:
        return node.lc.line + 1
    return 1


def _syntax_problem(exc: MarkedYAMLError, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    message = exc.problem or "invalid YAML"
    if exc.context:
        context_line = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
        message += f" ({exc.context}{context_line})"
    return Problem(filename, mark.line + 1 if mark else 1, "yaml", message)


def _structure_problems(node: Node | None, path: tuple[PathPart, ...], filename: str,
                        ancestors: frozenset[int] = frozenset()) -> Iterator[Problem]:
    """Yield a Problem for every key that appears twice in one mapping, anywhere in the document, and
    for an alias that contains itself (it would expand forever)."""
    if node is None:
        return
    if id(node) in ancestors:
        yield Problem(filename, node.start_mark.line + 1, format_path(path), "an alias refers to itself")
        return
    inner = ancestors | {id(node)}
    if isinstance(node, MappingNode):
        first_seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key != _MERGE_KEY:
                line = key_node.start_mark.line + 1
                if key in first_seen:
                    yield Problem(filename, line, format_path(path + (key,)),
                                  f"duplicate key '{key}' (first at line {first_seen[key]})")
                else:
                    first_seen[key] = line
            yield from _structure_problems(value_node, path + ((key,) if key is not None else ()), filename, inner)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _structure_problems(item, path + (index,), filename, inner)


def _plain(value: Any) -> Any:
    """Deep copy of ruamel's round-trip objects as built-in types (bool stays bool, HexInt becomes int)."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for builtin in (str, int, float):
        if isinstance(value, builtin):
            return builtin(value)
    return value
