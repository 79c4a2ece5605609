"""Problems found in a rules file, each pinned to file, line and field.

Why a list and not the first error: a person editing YAML fixes everything in one round trip when the
loader reports every problem it can see, each as `FILE:LINE: field.path: message` (the format editors and
CI logs already turn into clickable locations).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence, Union

PathPart = Union[str, int]
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(path: Sequence[PathPart]) -> str:
    """`('rules', 0, 'owners', 'by_category', 'Home/Kitchen')` -> `rules[0].owners.by_category["Home/Kitchen"]`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:
            text += '["' + part.replace('"', '\\"') + '"]'
    return text or "(file)"


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rules file."""

    file: str
    line: Optional[int]  # 1-based; None when the file could not be read at all
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class RulesError(ValueError):
    """The rules file is unusable; `problems` holds every problem found, in file order."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.line or 0, p.field, p.message)))
        super().__init__("\n".join(str(p) for p in self.problems))
