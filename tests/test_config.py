"""Settings, prompts and the public surface: documented, strict, and pinned."""

from pathlib import Path

import pytest

import qa
from qa.answering.answer import Prompts
from qa.answering.prompts import PROMPTS_DIR, load_prompt
from qa.config import Settings
from qa.errors import ConfigError


def test_every_setting_has_a_description() -> None:
    missing = [name for name, f in Settings.model_fields.items() if not f.description]
    assert missing == []


def test_unknown_setting_is_refused_with_a_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_KK", "5")
    with pytest.raises(ConfigError, match="QA_TOP_KK.*did you mean QA_TOP_K"):
        Settings.load()


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_K", "lots")
    with pytest.raises(ConfigError, match="QA_TOP_K"):
        Settings.load()


def test_environment_and_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QA_TOP_K", "7")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings.load(index_dir=tmp_path)
    assert settings.top_k == 7
    assert settings.index_dir == tmp_path
    assert settings.llm_api_key == "sk-test"


def test_every_prompt_file_is_used() -> None:
    used = {p.name for p in vars(Prompts.load()).values()}
    on_disk = {p.stem for p in PROMPTS_DIR.glob("*.txt")}
    assert on_disk == used


def test_prompt_refuses_a_missing_placeholder() -> None:
    prompt = load_prompt("answer_user")
    with pytest.raises(ConfigError, match="question"):
        prompt.render(passages="x")


def test_prompt_values_are_not_reparsed() -> None:
    text = load_prompt("answer_user").render(
        passages="{question} {evil}", question="Q?", refusal="R."
    )
    assert "{question} {evil}" in text


def test_missing_prompt_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_prompt("nope", prompts_dir=tmp_path)


def test_public_api_is_pinned() -> None:
    assert sorted(qa.__all__) == [
        "Answer",
        "Article",
        "ArticleRetriever",
        "Chunk",
        "Citation",
        "CitationError",
        "ConfigError",
        "IndexReport",
        "IngestError",
        "LLMError",
        "ModelError",
        "NoIndexError",
        "QAError",
        "QAService",
        "ScoredChunk",
        "Settings",
        "StoreError",
        "Timeline",
        "TimelineEvent",
        "answer",
        "build_index",
        "stream_answer",
        "timeline",
    ]
    for name in qa.__all__:
        assert getattr(qa, name) is not None


def test_errors_share_one_base() -> None:
    for name in (
        "ConfigError",
        "IngestError",
        "StoreError",
        "ModelError",
        "LLMError",
        "CitationError",
        "NoIndexError",
    ):
        assert issubclass(getattr(qa, name), qa.QAError)
