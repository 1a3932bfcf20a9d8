"""The ``qa`` command through click's CliRunner: clean messages and exit codes, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import main


@pytest.fixture
def run(tmp_path: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, **env: str):  # type: ignore[no-untyped-def]
        base = {"QA_INDEX_DIR": str(tmp_path / "index"), "QA_CACHE_DIR": str(cache_dir)}
        return runner.invoke(main, list(args), env={**base, **env}, catch_exceptions=False)

    return invoke


def test_help_explains_the_commands(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--help")
    assert result.exit_code == 0
    for word in ("index", "ask", "serve", "info"):
        assert word in result.output
    assert "PATH" in run("index", "--help").output


def test_missing_folder_is_a_one_line_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "Traceback" not in result.output


def test_unknown_setting_is_a_one_line_error(run, seed_folder: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(seed_folder), QA_CHUNK_TOKEN="100")
    assert result.exit_code == 2
    assert "QA_CHUNK_TOKENS" in result.output


def test_index_info_and_refusal(run, seed_folder: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("index", str(seed_folder))
    assert result.exit_code == 0, result.output
    assert "added 1" in result.output
    assert "unchanged 1" in run("index", str(seed_folder)).output
    assert run("info").output.startswith("1 articles, ")
    # nothing relevant is retrieved: refused before any model is started
    refused = run("ask", "What is the boiling point of water on Mount Everest?", "--json")
    data = json.loads(refused.output)
    assert data["refused"] is True and data["citations"] == []


@pytest.mark.llm
def test_ask_prints_answer_and_sources(run, seed_folder: Path, llm_base_url: str) -> None:  # type: ignore[no-untyped-def]
    run("index", str(seed_folder))
    result = run("ask", "Who did Stoltenberg meet in Kyiv?", QA_LLM_BASE_URL=llm_base_url)
    assert result.exit_code == 0, result.output
    assert "Zelensk" in result.output
    assert "Sources:" in result.output and "[1] All NATO Allies" in result.output
    as_json = run(
        "ask", "Who did Stoltenberg meet in Kyiv?", "--json", QA_LLM_BASE_URL=llm_base_url
    )
    data = json.loads(as_json.output)
    assert data["citations"][0]["quote"] and data["citations"][0]["number"] == 1
