"""Prompt templates live as text files in ``prompts/``; this module loads and fills them.

Placeholders are ``{name}``. Values are substituted once and never re-parsed, so braces
inside article text are safe. A placeholder with no value is an error, not an empty string.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ConfigError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Prompt:
    """One template file, by name (``answer_system`` for ``prompts/answer_system.txt``)."""

    name: str
    template: str

    @property
    def placeholders(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.template))

    def render(self, **values: object) -> str:
        """Fill every placeholder; raise ``ConfigError`` naming any that has no value."""
        missing = self.placeholders - values.keys()
        if missing:
            raise ConfigError(
                f"prompt {self.name!r} needs values for: {', '.join(sorted(missing))}"
            )
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), self.template)


def load_prompt(name: str, *, prompts_dir: Path = PROMPTS_DIR) -> Prompt:
    """Read ``prompts_dir/<name>.txt``; a missing file is a ``ConfigError``."""
    path = prompts_dir / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"prompt file {path} cannot be read: {exc.strerror}") from None
    return Prompt(name=name, template=text.strip("\n"))


def prompts_hash(prompts: list[Prompt]) -> str:
    """Short hash of the templates used, recorded on every ``Answer``."""
    digest = hashlib.sha256()
    for prompt in prompts:
        digest.update(prompt.name.encode() + b"\0" + prompt.template.encode() + b"\0")
    return digest.hexdigest()[:12]
