"""The Python faces: ``answer``, ``stream_answer``, ``timeline`` and ``build_index`` over
``QAService``.

One service per index is kept for the life of the process, so the embedder loads once and
the local LLM server started for the first question answers the next ones too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.config import Settings
from qa.models import Answer, Evidence, IndexReport, Timeline
from qa.service import HistoryLike, QAService

_services: dict[tuple[str, str | None], QAService] = {}
_lock = threading.Lock()


def _settings(index_dir: Path | str | None) -> Settings:
    return Settings.load(index_dir=Path(index_dir) if index_dir is not None else None)


def service_for(settings: Settings) -> QAService:
    """The process's ``QAService`` for this index, made on first use."""
    key = (str(settings.index_dir.resolve()), settings.chroma_url)
    with _lock:
        if key not in _services:
            _services[key] = QAService(settings)
        return _services[key]


def answer(
    question: str,
    *,
    index_dir: Path | str | None = None,
    history: HistoryLike = None,
    since: str = "",
    until: str = "",
    outlets: Sequence[str] = (),
) -> Answer:
    """Answer a question from the articles in the index, with checked citations. Only
    articles published ``since``..``until`` (``YYYY-MM-DD``, inclusive, "" open) by
    ``outlets`` (names as the index has them, any case; empty: all) are read, within what the
    question itself says ("latest", "last week", "in March"); ``Answer.period`` says which.
    Raises ``ConfigError`` for a bad day or an unknown outlet, ``NoIndexError`` when there is
    no index."""
    return service_for(_settings(index_dir)).ask(question, history=history, since=since,
                                                 until=until, outlets=outlets)


def stream_answer(
    question: str,
    *,
    index_dir: Path | str | None = None,
    history: HistoryLike = None,
    since: str = "",
    until: str = "",
    outlets: Sequence[str] = (),
) -> Iterator[Evidence | str | Answer]:
    """Yield the ``Evidence`` the model is about to read (as soon as it is chosen), then the
    answer's text as it is generated (empty strings while text is held back), and last the
    full ``Answer``; ``since``, ``until`` and ``outlets`` as ``answer`` takes them. Stop
    iterating (or ``close()``) to stop the model's work on it."""
    return service_for(_settings(index_dir)).stream(question, history=history, since=since,
                                                    until=until, outlets=outlets)


def timeline(
    topic: str,
    *,
    since: str = "",
    until: str = "",
    outlets: Sequence[str] = (),
    index_dir: Path | str | None = None,
) -> Timeline:
    """The story's events in date order (``Timeline``), from every indexed article on
    ``topic`` published within ``since``..``until`` (``YYYY-MM-DD``, inclusive, "" open) by
    ``outlets`` (empty: all). For progress and cancelling, iterate
    ``QAService.timeline`` instead. Raises ``ConfigError`` for an empty topic, a bad day or an
    unknown outlet, ``NoIndexError`` when there is no index."""
    *_, last = service_for(_settings(index_dir)).timeline(topic, since=since, until=until,
                                                          outlets=outlets)
    return last  # the service always yields a complete timeline last


def build_index(
    path: Path | str | None = None,
    index_dir: Path | str | None = None,
    *,
    urls: Sequence[str] = (),
) -> IndexReport:
    """Make the index mirror the articles in a folder or file, plus web pages and RSS/Atom
    feeds fetched from ``urls`` (kept beside the index); embeds only changes. ``path`` None
    keeps the folder the index was last built from."""
    return service_for(_settings(index_dir)).ingest(path, urls=urls)
