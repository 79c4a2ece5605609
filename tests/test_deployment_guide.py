"""Every command in docs/DEPLOYMENT.md is one that works as written.

No Azure account is reachable here, so a command is checked as far as this machine can: every shell
block and every inline command parses with `bash -n` and holds no `<placeholder>` (which bash reads as a
redirection: `git clone <this repository>` is a syntax error, not a hint). The block marked
`# smoke test` is also run for real, against the local host (tests/test_function_app.py), with curl -f,
so a route, method or required parameter that is wrong fails the suite.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "DEPLOYMENT.md"

_FENCE = re.compile(r"^[ \t]*```(\w*)[ \t]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_COMMAND = re.compile(r"^(az|azd|func|curl|gh|git|make|python3?|npx|pip) ")
# `<word>` or `<two words>`, but not heredocs, here-strings or redirections like `2>/dev/null`.
_PLACEHOLDER = re.compile(r"<[A-Za-z][\w .-]*>")
SMOKE_MARKER = "# smoke test"


def shell_blocks(text: str) -> list[str]:
    """The bodies of the ```bash blocks, dedented (blocks inside list items are indented)."""
    blocks = []
    for language, body in _FENCE.findall(text):
        if language in ("bash", "sh", "shell"):
            indent = min((len(line) - len(line.lstrip()) for line in body.splitlines() if line.strip()), default=0)
            blocks.append("\n".join(line[indent:] for line in body.splitlines()) + "\n")
    return blocks


def inline_commands(text: str) -> list[str]:
    """Inline code spans outside fenced blocks that are shell commands (`az ...`, `azd ...`, ...)."""
    prose = _FENCE.sub("", text)
    return [span for span in _INLINE.findall(prose) if _COMMAND.match(span)]


def smoke_block() -> str:
    [block] = [b for b in shell_blocks(GUIDE.read_text()) if b.lstrip().startswith(SMOKE_MARKER)]
    return block


def _bash_syntax_error(script: str) -> str:
    result = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
    return result.stderr if result.returncode else ""


def test_the_guide_has_shell_blocks_and_inline_commands() -> None:
    text = GUIDE.read_text()
    assert len(shell_blocks(text)) >= 8 and len(inline_commands(text)) >= 5


def test_every_shell_block_parses_and_names_no_placeholder() -> None:
    for block in shell_blocks(GUIDE.read_text()):
        assert not _bash_syntax_error(block), f"{_bash_syntax_error(block)}\n{block}"
        assert not _PLACEHOLDER.search(block), f"placeholder {_PLACEHOLDER.search(block)[0]!r} in\n{block}"


def test_every_inline_command_parses_and_names_no_placeholder() -> None:
    for command in inline_commands(GUIDE.read_text()):
        assert not _bash_syntax_error(command), f"{command}: {_bash_syntax_error(command)}"
        assert not _PLACEHOLDER.search(command), f"placeholder in `{command}`"


def test_a_placeholder_is_caught() -> None:
    old = "```bash\ngit clone <this repository> && cd <it>\n```\n"
    [block] = shell_blocks(old)
    assert _bash_syntax_error(block) and _PLACEHOLDER.search(block)


def test_the_smoke_block_uses_only_curl_against_the_app() -> None:
    lines = [line for line in smoke_block().splitlines() if line.strip() and not line.startswith("#")]
    assert lines and all(re.match(r'^(\w+=\$\()?curl -fsS ', line) for line in lines), lines
    assert "/api/scans/$RUN" in smoke_block(), "the smoke test reads a queued run's status"
    assert all('"$URL/api/' in line for line in lines)
