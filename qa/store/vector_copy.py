"""A memory-mapped copy of the stored vectors beside a keyword build, for exact scope search.

A small scope (an outlet's or a day's passages, at most ``EXACT_MAX``) is searched exactly from
its passages' vectors (``qa.store.vectors``). Fetched from Chroma, those vectors cost about
40 microseconds each with ``chroma run`` (JSON over HTTP) and a tenth of that embedded: the
first question that searches a small outlet waited up to 2,000 x 40 us for them, which set the
p95 latency with a server (166 ms at 1x, 209 ms at 10x; docs/benchmarks.md, Scale). The copy
is ``vectors.npy`` in the build's folder: one float32 row per build row, in build order, as
Chroma stores it (not normalised, so exact search computes what it computed from a fetch).
Read through a memory map, a scope's rows cost a page-cache read, and the kernel keeps the hot
outlets' pages (384 dimensions: 1.5 KB a passage, 540 MB at 354,000 passages, on disk). The
normalised vectors of recent scopes are still kept (``VectorSearch``, at most ``CACHE_MAX``),
which saves the gather and normalisation when an outlet recurs.

The copy is an accelerator: a build without one (made by a process that could not write it,
or before copies were kept) is searched from fetched vectors as before. Written whole or not at
all (a temporary file renamed into place).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.errors import StoreError

NAME = "vectors.npy"
_BATCH = 5000  # vectors fetched per store call (under Chroma's batch limit)

Fetch = Callable[[Sequence[str]], dict[str, np.ndarray]]


def load(folder: Path, rows: int) -> np.ndarray | None:
    """The copy in ``folder`` memory-mapped (float32, ``rows`` x dimensions), or None when
    there is none or it does not hold ``rows`` rows (then vectors are fetched)."""
    try:
        copy = np.load(folder / NAME, mmap_mode="r")
    except (OSError, ValueError):
        return None
    if copy.ndim != 2 or copy.shape[0] != rows or copy.dtype != np.float32:
        return None
    return copy


def write(folder: Path, ids: Sequence[str], fetch: Fetch, *,
          last: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """Write the copy for a build whose rows are ``ids`` (in build order) into ``folder``,
    unless a usable one is there (one of another shape or type is written again); whether the
    folder holds one afterwards.

    ``last`` is an earlier build's copy and, for each of ``ids``, its row there (-1: not in
    it): those vectors are copied, the rest fetched by ``fetch`` (ids → vectors),
    ``_BATCH`` at a time. When the store lacks a passage (a build is writing), nothing is
    written and False is returned. Raises ``StoreError`` when the file cannot be written
    (nothing is left half written) or the store cannot be read.
    """
    target = folder / NAME
    n = len(ids)
    if load(folder, n) is not None:
        return True
    if not n:
        return False
    tmp = folder / f".{NAME}.{os.getpid()}.tmp"
    copy: np.ndarray | None = None
    try:
        for start in range(0, n, _BATCH):
            end = min(n, start + _BATCH)
            block = _block(ids, start, end, fetch, last)
            if block is None:
                return False
            if copy is None:
                copy = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32,
                                                 shape=(n, block.shape[1]))
            copy[start:end] = block
        assert copy is not None
        copy.flush()
        del copy
        copy = None
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
        return True
    except OSError as exc:
        raise StoreError(f"cannot write the vector copy at {target}: {exc}") from None
    finally:
        del copy
        tmp.unlink(missing_ok=True)


def _block(ids: Sequence[str], start: int, end: int, fetch: Fetch,
           last: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray | None:
    """The vectors of ``ids[start:end]`` (float32, one row each), or None when the store
    lacks one of them."""
    part = [ids[i] for i in range(start, end)]
    found: dict[int, np.ndarray] = {}
    if last is not None:
        old, where = last
        for k, row in enumerate(where[start:end].tolist()):
            if row >= 0:
                found[k] = np.asarray(old[row], dtype=np.float32)
    wanted = [k for k in range(len(part)) if k not in found]
    if wanted:
        got = fetch([part[k] for k in wanted])
        for k in wanted:
            vector = got.get(part[k])
            if vector is None:
                return None
            found[k] = np.asarray(vector, dtype=np.float32)
    return np.stack([found[k] for k in range(len(part))])
