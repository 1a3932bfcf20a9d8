"""Watching a folder: each burst of changes to its article files -> one call to rebuild.

watchfiles (inotify on Linux) reports changes; a burst (a copy of fifty files, an editor's
save-and-rename) is one batch: it ends after ``step_ms`` without a change, or ``max_batch_ms``
after it began. Changes made while a rebuild runs are kept and make the next batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import watchfiles

from qa.sources.formats import SUFFIXES

STEP_MS = 500
MAX_BATCH_MS = 5000
_CHECK_MS = 1000  # how often, with nothing changing, ``moved`` and ``stop`` are looked at


class _ArticleFiles(watchfiles.DefaultFilter):
    """Changes to the files an index reads: supported types and folders (a folder moved away
    takes its files along), nothing hidden (so the ``.tmp-`` files of atomic writes and
    editors' swap files are ignored), no ``.git`` and the like."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __call__(self, change: watchfiles.Change, path: str) -> bool:
        file = Path(path)
        rel = file.relative_to(self.root) if file.is_relative_to(self.root) else Path(file.name)
        folder = file.is_dir() or change == watchfiles.Change.deleted and not file.suffix
        return (super().__call__(change, path) and (file.suffix.lower() in SUFFIXES or folder)
                and not any(part.startswith(".") for part in rel.parts))


def watch_folder(
    folder: Path,
    rebuild: Callable[[list[str]], None],
    *,
    stop: threading.Event | None = None,
    moved: Callable[[], bool] | None = None,
    on_ready: Callable[[], None] | None = None,
    step_ms: int = STEP_MS,
    max_batch_ms: int = MAX_BATCH_MS,
) -> None:
    """Call ``rebuild(changed)`` after each burst of changes under ``folder`` (a folder, or one
    file), ``changed`` being the sorted paths that were added, modified or deleted.

    ``on_ready()`` is called once changes are being watched (a change made before may be
    missed). Blocks until ``stop`` is set, ``moved()`` returns true (the caller now wants
    another folder watched), or Ctrl+C. Errors of ``rebuild`` propagate; the caller decides
    what is fatal.
    """
    root = Path(folder).resolve()
    announced = False
    for changes in watchfiles.watch(
        root,
        watch_filter=_ArticleFiles(root if root.is_dir() else root.parent),
        debounce=max_batch_ms,
        step=step_ms,
        stop_event=stop,
        rust_timeout=_CHECK_MS,
        yield_on_timeout=True,
        raise_interrupt=False,
    ):
        if on_ready is not None and not announced:  # yields come after the watcher is set up
            announced = True
            on_ready()
        if moved is not None and moved():
            return
        if changes:
            rebuild(sorted({path for _change, path in changes}))
