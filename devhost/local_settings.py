"""local.settings.json, read the way `func start` reads it.

Why: people who have Core Tools keep their local app settings in this file (it is in .gitignore), and
the same file must work with devhost. Like Core Tools, "Values" become environment variables before the
app is imported, and a variable already set in the environment wins over the file, so
`PLYTIX_BASE_URL=... make run` overrides it for one run.
Source: Microsoft Learn, "Develop Azure Functions locally" (local settings file): "Values" is a collection
of string-to-string app settings; "Host.LocalHttpPort" sets the default port; "IsEncrypted" true means
the values were encrypted with `func settings encrypt`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, MutableMapping, Optional


class LocalSettingsError(ValueError):
    """The file cannot be used; the message names the file and the setting, never a value."""


@dataclass(frozen=True)
class LocalSettings:
    values: dict[str, str] = field(default_factory=dict)
    local_http_port: Optional[int] = None

    @classmethod
    def load(cls, path: Path) -> "LocalSettings":
        """Read `path`; a missing file is an empty one (the file is optional, as for Core Tools)."""
        if not path.exists():
            return cls()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LocalSettingsError(f"cannot read {path}: {exc}") from None
        if not isinstance(document, dict):
            raise LocalSettingsError(f"{path} must hold a JSON object")
        if document.get("IsEncrypted"):
            raise LocalSettingsError(f"{path} is encrypted (IsEncrypted: true); devhost cannot decrypt it: "
                                     "run `func settings decrypt` or keep the values unencrypted")
        values = document.get("Values", {})
        if not isinstance(values, dict):
            raise LocalSettingsError(f"{path}: Values must be an object of string settings")
        wrong = sorted(name for name, value in values.items() if not isinstance(value, str))
        if wrong:
            raise LocalSettingsError(f"{path}: Values must be strings; not a string: {', '.join(wrong)}")
        return cls(dict(values), _port(path, document.get("Host", {})))

    def apply_to(self, environ: MutableMapping[str, str]) -> list[str]:
        """Set each value not already in `environ`; return the names set (values stay unprinted)."""
        applied = [name for name in self.values if name not in environ]
        for name in applied:
            environ[name] = self.values[name]
        return applied


def _port(path: Path, host: Any) -> Optional[int]:
    if not isinstance(host, dict) or host.get("LocalHttpPort") is None:
        return None
    port = host["LocalHttpPort"]
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise LocalSettingsError(f"{path}: Host.LocalHttpPort must be a port number")
    return port
