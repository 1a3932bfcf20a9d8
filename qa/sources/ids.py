"""Article ids that never name two articles, whatever characters file names hold.

An id keys an article's chunks in the index (``qa.models.chunk_id``) and is compared from one
build to the next:

- a file's article: its path relative to the indexed folder (``world/nato.txt``);
- a record of a .json or .jsonl file: ``<path>#<url or title>`` (``feed.json#Bridge``), with
  ``~2``, ``~3``... added to a repeat within the file;
- a fetched web page: its URL (``qa.sources.web``).

A file name may hold ``#`` (``Receipt #2832 council grant.txt``), and then these forms overlap:
a file ``feed.json#Bridge.txt`` beside ``feed.json`` would have the id of the record titled
``Bridge.txt`` (the build then failed on the duplicate chunk ids). So a path holding ``#`` is
written after a leading ``/``, with ``%`` and ``#`` escaped as ``%25`` and ``%23``:
``/Receipt %232832 council grant.txt``, or ``/a%23b.json#Bridge`` for a record. No two
articles share an id: a plain file id holds no ``#``; a plain record id's first ``#`` ends its
path; the escaped ones start with ``/``, which no relative path, plain id or URL does, and
hold a ``#`` only after a record's path. Every path without ``#`` keeps the id it always had,
so an index built before keeps its vectors.

Nothing splits an id back: an article's file is ``Article.path`` (stored with each chunk), a
problem's is ``IngestProblem.file_path``.

A name that is not UTF-8 (bytes a Linux file system allows, read as lone surrogates) cannot be
stored or printed: its file is skipped, saying so, and shown with the odd bytes as ``\\xe9``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from qa.models import Article, IngestProblem

_ESCAPE = str.maketrans({"%": "%25", "#": "%23"})


def file_id(path: str) -> str:
    """The id of the article of the file at ``path`` (relative, posix)."""
    return path if "#" not in path else "/" + path.translate(_ESCAPE)


def record_id(path: str, key: str) -> str:
    """The id of the record ``key`` (its url or title, with ``~n`` on a repeat) of the file at
    ``path``; always ``record_id(path, "") + key``."""
    return f"{path}#{key}" if "#" not in path else f"/{path.translate(_ESCAPE)}#{key}"


def settle(
    articles: Sequence[Article], problems: Sequence[IngestProblem], prefix: str = ""
) -> tuple[list[Article], list[IngestProblem]]:
    """Articles and problems as ``qa.sources.formats.read_articles`` gives them (a file's
    article has its path as id, a record ``record_id``), with ``prefix`` put before every path
    (a folder inside the indexed one, ``default-web/``) and the ids made from those paths.

    A file whose name is not UTF-8 is left out, with a problem saying so. Raises nothing."""
    kept: list[Article] = []
    out = [_problem(p, prefix) for p in problems]
    for art in articles:
        path = prefix + art.path
        if not _storable(path):
            out.append(IngestProblem(printable(path), "the file name is not valid UTF-8, so it "
                                                      "cannot be indexed; rename the file"))
            continue
        if art.id == art.path:
            new_id = file_id(path)
        elif art.id.startswith(head := record_id(art.path, "")):
            new_id = record_id(path, art.id[len(head) :])
        else:  # an id another reader chose (none does now): kept as given
            new_id = art.id
        kept.append(art if (new_id, path) == (art.id, art.path)
                    else dataclasses.replace(art, id=new_id, path=path))
    return kept, out


def _problem(problem: IngestProblem, prefix: str) -> IngestProblem:
    path, file = prefix + problem.path, prefix + problem.file if problem.file else ""
    if not _storable(path + file):
        path, file = printable(path), printable(file)
    return problem if (path, file) == (problem.path, problem.file) else \
        dataclasses.replace(problem, path=path, file=file)


def _storable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (Chroma, the keyword index and JSON replies need it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(path: str) -> str:
    """``path`` with the bytes of a name that is not UTF-8 shown as ``\\xe9``."""
    if _storable(path):
        return path
    try:  # the bytes of the name, as the file system gave them
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system byte decodes to
        return path.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")
