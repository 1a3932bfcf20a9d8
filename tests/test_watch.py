"""Watch mode: a real folder, real inotify events (watchfiles), a real index kept in sync.

Waits below are bounded only so that a broken watcher fails instead of hanging; nothing is
asserted about how long anything took.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pages import OTHER, PARAGRAPHS

from qa.faces.library import stage_uploads
from qa.faces.server import keep_in_sync
from qa.models import IndexReport
from qa.service import QAService

REPO = Path(__file__).resolve().parents[1]
WAIT = 180  # seconds: an update on two busy cores may take a while; a lost one never comes


def story(name: str, extra: str = "") -> str:
    title, para = OTHER[name]
    return f"{title}\nSource: Test Wire\n\n{para}{extra}\n"


class Watching:
    """``QAService.watch`` on a thread; each update's (changed paths, report) in ``updates``."""

    def __init__(self, service: QAService, folder: Path) -> None:
        self.updates: queue.Queue[tuple[list[str], IndexReport] | Exception] = queue.Queue()
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=service.watch, args=(folder,), kwargs={
            "stop": self.stop, "on_ready": self.ready.set, "on_error": self.updates.put,
            "on_report": lambda paths, report: self.updates.put((paths, report))})

    def __enter__(self) -> Watching:
        self.thread.start()
        assert self.ready.wait(WAIT), "the watcher did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), "the watcher did not stop"

    def next(self) -> tuple[list[str], IndexReport]:
        update = self.updates.get(timeout=WAIT)
        assert not isinstance(update, Exception), update
        return update


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "bridge.txt").write_text(story("bridge"))
    return folder


def test_watch_mode_follows_files_added_changed_and_removed(
    folder: Path, make_settings: Any, embedder: Any
) -> None:
    service = QAService(make_settings(), embedder=embedder)
    service.ingest(folder)
    with Watching(service, folder) as watching:
        (folder / "school.txt").write_text(story("school"))
        paths, report = watching.next()
        assert paths == [str((folder / "school.txt").resolve())]
        assert (report.added, report.updated, report.removed, report.unchanged) == (1, 0, 0, 1)

        (folder / "school.txt").write_text(story("school", " It has a new gym."))
        _paths, report = watching.next()
        assert (report.added, report.updated, report.removed) == (0, 1, 0)

        (folder / "bridge.txt").unlink()
        _paths, report = watching.next()
        assert (report.added, report.updated, report.removed) == (0, 0, 1)

        # a burst: five files at once, plus files the index does not read
        (folder / ".draft.txt").write_text(story("ferry"))
        (folder / "notes.docx").write_bytes(b"PK\x03\x04")
        for n in range(5):
            (folder / "burst" / str(n)).mkdir(parents=True)
            (folder / "burst" / str(n) / "note.txt").write_text(f"Harbour note {n}\n\n"
                                                                f"{PARAGRAPHS[n]}\n")
        added, updates = 0, 0
        while added < 5:
            paths, report = watching.next()
            added, updates = added + report.added, updates + 1
            assert not [p for p in paths if p.endswith((".draft.txt", ".docx"))]
        assert updates < 5, "each file of the burst made its own update"
    assert service.stats().articles == 6


class GatedEmbedder:
    """The real embedder, whose passage embeddings for a rebuild (off the main thread) wait
    until ``open`` is set: a rebuild held half-way, deterministically."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.open, self.waiting = inner, threading.Event(), threading.Event()

    def get_text_embedding_batch(self, texts: list[str], **options: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            self.waiting.set()
            assert self.open.wait(WAIT)
        return self.inner.get_text_embedding_batch(texts, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_questions_are_answered_from_the_last_complete_index_while_it_updates(
    folder: Path, make_settings: Any, embedder: Any
) -> None:
    gate = GatedEmbedder(embedder)
    service = QAService(make_settings(), embedder=gate)
    service.ingest(folder)
    question = "When did the new primary school in Northfield open?"
    assert {p.chunk.article_id for p in service.retrieve(question)} == {"bridge.txt"}
    with Watching(service, folder) as watching:
        (folder / "school.txt").write_text(story("school"))
        assert gate.waiting.wait(WAIT), "no update started"
        # the update is half-way (its passages wait to be embedded): questions still get the
        # last complete index, not a half-written one
        assert {p.chunk.article_id for p in service.retrieve(question)} == {"bridge.txt"}
        gate.open.set()
        _paths, report = watching.next()
        assert report.added == 1
        assert service.retrieve(question)[0].chunk.article_id == "school.txt"


def test_the_chat_app_keeps_its_index_in_sync_with_its_folder_and_follows_a_rebuild(
    tmp_path: Path, folder: Path, make_settings: Any, embedder: Any
) -> None:
    settings = make_settings(ui_watch=True, articles_root=tmp_path)
    service = QAService(settings, embedder=embedder)
    service.ingest(folder)
    said: queue.Queue[str] = queue.Queue()
    stop = threading.Event()
    thread = keep_in_sync(service, settings, stop, say=said.put)

    def expect(start: str) -> str:
        while not (line := said.get(timeout=WAIT)).startswith(start):
            assert "could not" not in line, line
        return line

    try:
        expect(f"watching {folder.resolve()}")
        (folder / "school.txt").write_text(story("school"))
        assert "added 1," in expect("1 changed in")
        # rebuilt from another folder in the Index tab: that folder is watched from then on
        other = tmp_path / "other"
        other.mkdir()
        service.ingest(other)
        expect(f"watching {other.resolve()}")
        (other / "ferry.txt").write_text(story("ferry"))
        assert "added 1," in expect("1 changed in")
        # files uploaded on top of a folder: the folder is still watched, the uploads kept
        upload = tmp_path / "upload.txt"
        upload.write_text(story("bridge"))
        service.ingest(stage_uploads([str(upload)], settings=settings, source=str(other)))
        expect(f"watching {other.resolve()}")
        (other / "school.txt").write_text(story("school"))
        assert "added 1," in expect("1 changed in") and service.stats().articles == 3
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()


@pytest.fixture
def lines() -> Iterator[Any]:
    """Runs a command, its output lines in a queue; killed at the end if still running."""
    procs: list[subprocess.Popen[str]] = []

    def run(*args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
        proc = subprocess.Popen([sys.executable, "-m", "qa.faces.cli", *args], cwd=REPO, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        procs.append(proc)
        out: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=lambda: [out.put(line) for line in proc.stdout],  # type: ignore[union-attr]
                         daemon=True).start()
        return proc, out

    yield run
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_qa_index_watch_prints_each_update_and_stops_on_ctrl_c(
    folder: Path, tmp_path: Path, lines: Any
) -> None:
    proc, out = lines("index", str(folder), "--watch", "--index", str(tmp_path / "index"),
                      "--no-progress")

    def expect(start: str) -> str:
        while not (line := out.get(timeout=WAIT)).startswith(start):
            assert proc.poll() is None, line
        return line

    expect("added 1, updated 0, removed 0")
    expect(f"watching {folder} for changes (Ctrl+C stops)")
    (folder / "school.txt").write_text(story("school"))
    expect("[")  # [hh:mm:ss] 1 change:
    assert expect("added ").startswith("added 1, updated 0, removed 0, unchanged 1")
    proc.send_signal(signal.SIGINT)
    expect("stopped watching")
    assert proc.wait(WAIT) == 0
