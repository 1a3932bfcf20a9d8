"""Several app processes, one store: app processes against one real ``chroma run`` server,
a rebuild through one answered from by the others without a restart (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED, WIRE

QUESTION = "How many rescuers are searching for the hikers missing in the Dolomites?"


class App:
    """One app process (``tests/app_process.py``) with its own QA_* environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("app_process.py"))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, **env, "PYTHONPATH": str(Path(__file__).parents[1])})

    def ask(self, request: dict[str, str]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.reply()

    def reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the app process ended (exit code {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.mark.server
def test_a_rebuild_through_one_app_is_answered_from_by_the_others(
    tmp_path: Path, cache_dir: Path, chroma_server: str
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    shared, own = tmp_path / "shared-keyword", tmp_path / "own-keyword"
    base = {"QA_CHROMA_URL": chroma_server, "QA_CACHE_DIR": str(cache_dir),
            "QA_REBUILD_CHECK_SECONDS": "0"}  # look at the stamp on every question
    # a and b share the keyword index's folder; c keeps its own, as on another machine
    a, b, c = (App({**base, "QA_INDEX_DIR": str(where)}) for where in (shared, shared, own))
    try:
        for app in (a, b, c):
            assert app.reply() == {"ready": True}
        assert "added 1," in a.ask({"ingest": str(folder)})["summary"]
        first = b.ask({"retrieve": QUESTION})
        assert first["articles"] and "agency.txt" not in first["articles"]
        assert Path(first["keyword_folder"]).parent == shared / "keyword" / "articles"
        assert "agency.txt" not in c.ask({"retrieve": QUESTION})["articles"]

        (folder / "agency.txt").write_text(f"Hikers missing\nSource: Wire\n\n{WIRE}\n")
        assert "added 1," in a.ask({"ingest": str(folder)})["summary"]
        second = b.ask({"retrieve": QUESTION})
        assert second["articles"][0] == "agency.txt", "b answers from a's rebuild, no restart"
        assert second["stamp"] != first["stamp"]
        assert Path(second["keyword_folder"]).name == second["stamp"]
        assert Path(second["keyword_folder"]).parent == shared / "keyword" / "articles", \
            "b opened the keyword build a saved, and did not make its own"
        third = c.ask({"retrieve": QUESTION})
        assert third["articles"][0] == "agency.txt" and third["stamp"] == second["stamp"]
        assert Path(third["keyword_folder"]).parent == own / "keyword" / "articles", \
            "c, not sharing a's folder, made the build from the collection, once"

        (folder / "agency.txt").unlink()
        assert "removed 1," in a.ask({"ingest": str(folder)})["summary"]
        for app in (b, c):
            assert "agency.txt" not in app.ask({"retrieve": QUESTION})["articles"]
    finally:
        for app in (a, b, c):
            app.close()
    assert not (shared / "chroma.sqlite3").exists(), "the vectors stay on the server"


def test_a_service_follows_a_build_made_through_another(
    make_settings, embedder, seed_folder: Path
) -> None:  # type: ignore[no-untyped-def]
    from qa.service import QAService

    settings = make_settings(rebuild_check_seconds=0)
    builder, asker = (QAService(settings, embedder=embedder) for _ in range(2))
    builder.ingest(seed_folder)
    before = asker.retriever.stamp
    assert "agency.txt" not in {p.chunk.article_id for p in asker.retrieve(QUESTION)}
    (seed_folder / "agency.txt").write_text(f"Hikers missing\nSource: Wire\n\n{WIRE}\n")
    builder.ingest(seed_folder)
    assert asker.retrieve(QUESTION)[0].chunk.article_id == "agency.txt"
    assert asker.retriever.stamp != before
    assert asker.stats().articles == 2
