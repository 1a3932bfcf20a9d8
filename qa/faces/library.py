"""The served app's articles: folders it may rebuild from (under ``QA_ARTICLES_ROOT``), and the
library of uploaded files kept beside the index, which mirrors the folder it was built from.

Used by the chat window's Index tab (``qa.faces.ui``), the HTTP API's ``POST /api/index``
(``qa.faces.http_api``) and the folder watcher (``qa.faces.server``); no UI library here.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from qa.config import Settings
from qa.errors import ConfigError

UPLOADS = "qa-uploads"  # folder of uploaded files inside the library folder
_ORIGIN = ".origin"  # hidden file in the library folder: the folder it mirrors


def resolve_under_root(text: str, root: Path) -> Path:
    """The folder or file ``text`` names (relative to ``root``); refused unless under ``root``."""
    if not text.strip():
        raise ConfigError("enter a folder to rebuild from")
    base = root.resolve()
    path = (base / Path(text.strip()).expanduser()).resolve()
    if not path.is_relative_to(base):
        raise ConfigError(f"{text.strip()} is outside {base} (QA_ARTICLES_ROOT); refused")
    return path  # one that does not exist is refused by the rebuild, saying what is left


def library_dir(settings: Settings) -> Path:
    """Where uploads are kept, beside the index folder: ``indexes/default-uploads``."""
    return settings.index_dir.parent / f"{settings.index_dir.name}-uploads"


def read_origin(lib: Path) -> str:
    try:
        return (lib / _ORIGIN).read_text().strip()
    except OSError:
        return ""


def stage_uploads(files: Sequence[str], *, settings: Settings, source: str) -> Path:
    """A folder that mirrors the indexed source (by symlinks) plus every upload so far.

    ``QAService.ingest`` makes the index mirror a folder, so uploads are added by ingesting
    this folder: the source's files keep their relative paths (and ids), uploads get new ones.
    """
    lib = library_dir(settings)
    lib.mkdir(parents=True, exist_ok=True)
    if source and Path(source) == lib.resolve():
        origin = read_origin(lib)
    else:  # built from elsewhere since: earlier uploads left the index, start over
        origin = source
        shutil.rmtree(lib / UPLOADS, ignore_errors=True)
    if origin and not Path(origin).exists():
        raise ConfigError(f"the index was built from {origin}, which is gone; rebuild first")
    for entry in lib.iterdir():
        if entry.name not in (UPLOADS, _ORIGIN):
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    if origin and Path(origin).is_file():
        (lib / Path(origin).name).symlink_to(origin)
    elif origin:
        for file in Path(origin).rglob("*"):
            rel = file.relative_to(origin)
            if file.is_file() and not any(p.startswith(".") for p in rel.parts) \
                    and rel.parts[0] != UPLOADS:
                (lib / rel).parent.mkdir(parents=True, exist_ok=True)
                (lib / rel).symlink_to(file)
    batch = lib / UPLOADS / time.strftime("%Y%m%d-%H%M%S")
    for name in files:
        batch.mkdir(parents=True, exist_ok=True)
        shutil.copy(name, batch / Path(name).name)
    (lib / _ORIGIN).write_text(origin)
    return lib


__all__ = ["UPLOADS", "library_dir", "read_origin", "resolve_under_root", "stage_uploads"]
