"""Which of an index's article files were deleted since it was built: asked at answer time, so
an answer never cites an article whose file is gone without saying so.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qa.config import Settings
from qa.sources import web


def files_gone(settings: Settings, built_from: str, paths: Iterable[str]) -> set[str]:
    """Of the given article paths (``Chunk.path``), those whose files were deleted since the
    index was built: fetched ones missing from the index's web folder, the others missing from
    ``built_from``, the folder the index was last built from (``ArticleIndex.built_from``).
    When that folder (or file) is gone as a whole, nothing is reported, as a build then keeps
    its articles too (an unmounted drive, a moved folder). A few ``stat`` calls, no store
    call; raises nothing."""
    fetched = web.web_dir(settings)
    root = Path(built_from) if built_from else None
    gone: set[str] = set()
    for path in set(paths):
        # ``Chunk.path`` is the file itself, a JSON file's records' too: a "#" in it is the
        # file's name (``Receipt #2832.txt``), never cut off
        if path.startswith(fetched.name + "/"):
            where = fetched.parent / path
        elif root is not None and root.is_dir():
            where = root / path
        else:  # a single file indexed is the root itself; or no folder to look in
            continue
        if not where.exists():
            gone.add(path)
    return gone
