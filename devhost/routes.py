"""ASP.NET-style route templates, as the Functions host matches `route=` of an HTTP trigger.

Why not a regex per route: the host's templates have their own grammar (`{id:int?}`, `{*rest}`,
`{name=default}`, `{code:regex(^[a-z]+$)}`) and their own precedence (a literal segment beats a
parameter, a constrained parameter beats a free one), and a route that works locally but is read
differently in Azure is exactly what a local host must not allow. Unknown constraints are an error
at start-up, as they are in the host.
Source: Microsoft Learn, "Routing in ASP.NET Core" (route template reference, route constraints), which
the Functions host uses for `route`.

Supported: literal segments (case-insensitive), one parameter per segment, constraints int, long, bool,
datetime, decimal, double, float, guid, alpha, required, min(n), max(n), range(a,b), minlength(n),
maxlength(n), length(n) / length(a,b), regex(expr); `?` optional and `=default` at the end of the route;
`{*name}` / `{**name}` catch-all as the last segment.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Optional
from urllib.parse import unquote

Check = Callable[[str], bool]


class RouteError(ValueError):
    """A route template the host would reject; the message names the template and the problem."""


def _is_int(bits: int) -> Check:
    limit = 2 ** (bits - 1)
    return lambda v: bool(re.fullmatch(r"[+-]?\d+", v)) and -limit <= int(v) < limit


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return value.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity")


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _numeric(value: str) -> Optional[int]:
    return int(value) if re.fullmatch(r"[+-]?\d+", value) else None


_SIMPLE: dict[str, Check] = {
    "int": _is_int(32),
    "long": _is_int(64),
    "bool": lambda v: v.lower() in ("true", "false"),
    "datetime": _is_datetime,
    "decimal": _is_number,
    "double": _is_number,
    "float": _is_number,
    "guid": _is_guid,
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "required": lambda v: v != "",
}


def _with_args(template: str, name: str, args: list[str]) -> Check:
    """Build a constraint that takes arguments, e.g. `range(1,10)`."""
    def ints(count: int) -> list[int]:
        values = [int(a) for a in args if re.fullmatch(r"[+-]?\d+", a.strip())]
        if len(values) != count or len(args) != count:
            raise RouteError(f"route {template!r}: {name}() takes {count} whole number(s)")
        return values

    if name == "regex":
        try:
            pattern = re.compile(",".join(args))
        except re.error as exc:
            raise RouteError(f"route {template!r}: bad regex(): {exc}") from None
        return lambda v: pattern.search(v) is not None  # ASP.NET does not anchor: templates use ^ and $
    if name in ("min", "max"):
        (bound,) = ints(1)
        compare = (lambda n: n >= bound) if name == "min" else (lambda n: n <= bound)
        return lambda v: (n := _numeric(v)) is not None and compare(n)
    if name == "range":
        low, high = ints(2)
        return lambda v: (n := _numeric(v)) is not None and low <= n <= high
    if name in ("minlength", "maxlength"):
        (bound,) = ints(1)
        return (lambda v: len(v) >= bound) if name == "minlength" else (lambda v: len(v) <= bound)
    if name == "length":
        low, high = ints(2) if len(args) == 2 else ints(1) * 2
        return lambda v: low <= len(v) <= high
    raise RouteError(f"route {template!r}: unknown route constraint {name!r}")


@dataclass(frozen=True)
class _Segment:
    literal: Optional[str] = None
    name: Optional[str] = None
    checks: tuple[Check, ...] = ()
    optional: bool = False
    default: Optional[str] = None
    catch_all: bool = False

    @property
    def rank(self) -> int:
        """Lower is more specific: ASP.NET's order (literal, constrained, free, optional, catch-all)."""
        if self.literal is not None:
            return 0
        if self.catch_all:
            return 4
        if self.optional or self.default is not None:
            return 3
        return 1 if self.checks else 2


def _split_top_level(text: str, separator: str) -> list[str]:
    """Split on `separator` outside parentheses (regex() arguments may contain it)."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == separator and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _parse_parameter(template: str, token: str) -> _Segment:
    body = token[1:-1]
    catch_all = body.startswith("*")
    body = body.lstrip("*")
    optional = body.endswith("?")
    body = body[:-1] if optional else body
    head, *default = _split_top_level(body, "=")
    name, *constraints = _split_top_level(head, ":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise RouteError(f"route {template!r}: {token!r} needs a parameter name of letters, digits and _")
    checks = []
    for constraint in constraints:
        called = re.fullmatch(r"(\w+)\((.*)\)", constraint, flags=re.DOTALL)
        if called:
            checks.append(_with_args(template, called[1].lower(), called[2].split(",")
                                     if called[1].lower() != "regex" else [called[2]]))
        elif constraint.lower() in _SIMPLE:
            checks.append(_SIMPLE[constraint.lower()])
        else:
            raise RouteError(f"route {template!r}: unknown route constraint {constraint!r}")
    return _Segment(name=name, checks=tuple(checks), optional=optional,
                    default=default[0] if default else None, catch_all=catch_all)


@dataclass(frozen=True)
class RouteTemplate:
    """One parsed template; `match` gives the route parameters of a path, or None."""

    template: str
    segments: tuple[_Segment, ...]

    @classmethod
    def parse(cls, template: str) -> "RouteTemplate":
        text = template.strip("/")
        segments: list[_Segment] = []
        for raw in (text.split("/") if text else []):
            unescaped = raw.replace("{{", "").replace("}}", "")  # {{ and }} are literal braces (in regex())
            if raw.startswith("{") and raw.endswith("}") and unescaped.count("{") == 1 == unescaped.count("}"):
                segments.append(_parse_parameter(template, raw.replace("{{", "{").replace("}}", "}")))
            elif "{" in raw or "}" in raw:
                raise RouteError(f"route {template!r}: segment {raw!r} mixes text and parameters "
                                 "(devhost supports one whole parameter per segment)")
            elif not raw:
                raise RouteError(f"route {template!r} has an empty segment")
            else:
                segments.append(_Segment(literal=raw))
        for position, segment in enumerate(segments):
            is_last = position == len(segments) - 1
            if segment.catch_all and not is_last:
                raise RouteError(f"route {template!r}: a catch-all parameter must be the last segment")
            if (segment.optional or segment.default is not None) and not is_last:
                raise RouteError(f"route {template!r}: only the last parameter can be optional or have a default")
        return cls(template, tuple(segments))

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.rank for segment in self.segments)

    def match(self, path: str) -> Optional[dict[str, str]]:
        """Route parameters for `path` (below the route prefix, percent-encoded), or None."""
        stripped = path.strip("/")
        parts = [unquote(p) for p in stripped.split("/")] if stripped else []
        params: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.catch_all:
                rest = "/".join(parts[index:])
                if rest and not all(check(rest) for check in segment.checks):
                    return None
                if rest or segment.default is not None:
                    params[segment.name] = rest or segment.default  # type: ignore[index, assignment]  # named, default set
                return params
            if index >= len(parts):
                if segment.literal is None and segment.default is not None:
                    params[segment.name] = segment.default  # type: ignore[index]  # a parameter segment is named
                    return params
                return params if segment.literal is None and segment.optional else None
            value = parts[index]
            if segment.literal is not None:
                if value.lower() != segment.literal.lower():
                    return None
            elif not value or not all(check(value) for check in segment.checks):
                return None
            else:
                params[segment.name] = value  # type: ignore[index]  # a parameter segment is named
        return params if len(parts) == len(self.segments) else None
