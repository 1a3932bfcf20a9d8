"""The HTTP API against the real server on loopback (the chat window and the API on one port),
with the real ``openai`` client: cited answers, streamed and not, follow-ups, refusals, every
error status, API keys, and a caller who leaves mid-stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from conftest import free_port, seed_tree

from qa.config import Settings
from qa.errors import ConfigError
from qa.faces.http_api import Gate, build_api
from qa.faces.server import launch
from qa.faces.ui import ANSWERING, build_app
from qa.service import QAService

AID = "How much military aid have NATO allies delivered to Ukraine?"


def _serve(settings: Settings, service: QAService) -> tuple[str, object, Gate]:
    gate = Gate(ANSWERING)
    app = build_app(service, settings, gate)
    url = launch(app, settings, api=build_api(service, settings, gate))
    return url, app, gate


@pytest.fixture(scope="module")
def seed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_tree(tmp_path_factory, "api-seed")


def _served(settings: Settings, service: QAService, seed_dir: Path
            ) -> Iterator[tuple[str, QAService, Gate]]:
    service.ingest(seed_dir / "articles")
    url, app, gate = _serve(settings, service)
    try:
        yield url, service, gate
    finally:
        app.close()  # type: ignore[attr-defined]


def _settings(seed_dir: Path, cache_dir: Path, name: str) -> Settings:
    return Settings.load(index_dir=seed_dir / name, cache_dir=cache_dir, progress=False,
                         ui_host="127.0.0.1", ui_port=free_port(), api_keys="k1, k2",
                         articles_root=seed_dir)


@pytest.fixture(scope="module")
def plain(seed_dir: Path, cache_dir: Path, embedder  # type: ignore[no-untyped-def]
          ) -> Iterator[tuple[str, QAService, Gate]]:
    """The chat window and the API on one free loopback port over the seed article, with an
    API key; its tests never reach the model (none is started)."""
    settings = _settings(seed_dir, cache_dir, "plain-index")
    yield from _served(settings, QAService(settings, embedder=embedder), seed_dir)


@pytest.fixture(scope="module")
def served(seed_dir: Path, cache_dir: Path, embedder, local_llm  # type: ignore[no-untyped-def]
           ) -> Iterator[tuple[str, QAService, Gate]]:
    """The same, answering with the real local model."""
    settings = _settings(seed_dir, cache_dir, "index")
    yield from _served(settings, QAService(settings, llm=local_llm, embedder=embedder),
                       seed_dir)


@pytest.fixture(scope="module")
def client(served: tuple[str, QAService, Gate]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{served[0]}v1", api_key="k2", max_retries=0, timeout=300)


def _error(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "code"} <= set(body["error"])
    return body["error"]  # type: ignore[no-any-return]


# --- without the model --------------------------------------------------------------------

def test_models_health_and_index_describe_the_one_model_and_its_index(
    plain: tuple[str, QAService, Gate],
) -> None:
    url, service, _gate = plain
    models = openai.OpenAI(base_url=f"{url}v1", api_key="k2", max_retries=0).models.list()
    assert [m.id for m in models.data] == ["article-qa"]
    assert models.data[0].model_extra["index"] == str(service.settings.index_dir)
    assert httpx.get(f"{url}health").json() == {"status": "ok", "articles": 1}
    info = httpx.get(f"{url}api/index", headers={"Authorization": "Bearer k1"}).json()
    assert info["articles"] == 1 and info["chunks"] >= 1 and info["exists"]
    assert httpx.get(url).status_code == 200  # the chat window is served from the same port


def test_every_bad_request_gets_its_status_in_openais_error_shape(
    plain: tuple[str, QAService, Gate],
) -> None:
    url = f"{plain[0]}v1/chat/completions"
    key = {"Authorization": "Bearer k1"}
    cases = [
        (httpx.post(url, content=b"{not json", headers={**key, "Content-Type":
                                                         "application/json"}), 400, "invalid_json"),
        (httpx.post(url, content=b"{not json", headers=key), 400, "invalid_json"),
        (httpx.post(url, json=["a list"], headers=key), 400, "invalid_json"),
        (httpx.post(url, json={"model": "article-qa"}, headers=key), 400, "invalid_request"),
        (httpx.post(url, json={"messages": []}, headers=key), 400, "invalid_request"),
        (httpx.post(url, json={"messages": [{"role": "assistant", "content": "Hi"}]},
                    headers=key), 400, "empty_question"),
        (httpx.post(url, json={"messages": [{"role": "user", "content": "  "}]}, headers=key),
         400, "empty_question"),
        (httpx.post(url, json={"messages": [{"role": "user", "content": "why? " * 2000}]},
                    headers=key), 413, "question_too_long"),
        (httpx.post(url, json={"model": "gpt-4o", "messages": [{"role": "user",
                                                                 "content": "Hi?"}]},
                    headers=key), 404, "model_not_found"),
        (httpx.post(url, json={"messages": [{"role": "user", "content": "Hi?"}]}), 401,
         "invalid_api_key"),
        (httpx.post(url, json={"messages": [{"role": "user", "content": "Hi?"}]},
                    headers={"Authorization": "Bearer k3"}), 401, "invalid_api_key"),
        (httpx.get(f"{plain[0]}api/index"), 401, "invalid_api_key"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.status_code, response.text)
        assert _error(response)["code"] == code


def test_articles_are_listed_in_pages_and_the_index_rebuilt_from_a_folder_under_the_root(
    plain: tuple[str, QAService, Gate],
) -> None:
    url, _service, _gate = plain
    key = {"Authorization": "Bearer k1"}
    page = httpx.get(f"{url}api/articles", params={"limit": 10}, headers=key).json()
    assert page["total"] == 1 and page["offset"] == 0 and page["limit"] == 10
    (article,) = page["articles"]
    assert article["title"] == "All NATO Allies Favor Ukraine's Membership: Stoltenberg"
    assert article["chunks"] >= 1 and {"article_id", "outlet", "date", "url"} <= set(article)
    assert httpx.get(f"{url}api/articles", params={"offset": 1}, headers=key
                     ).json()["articles"] == []
    rebuilt = httpx.post(f"{url}api/index", json={"folder": "articles"}, headers=key,
                         timeout=120)
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["unchanged"] == 1 and "unchanged 1" in rebuilt.json()["summary"]
    outside = httpx.post(f"{url}api/index", json={"folder": "../.."}, headers=key)
    assert outside.status_code == 400 and "QA_ARTICLES_ROOT" in str(_error(outside)["message"])
    fetch = httpx.post(f"{url}api/index", json={"urls": ["http://127.0.0.1:9/feed"]},
                       headers=key)
    assert fetch.status_code == 403 and _error(fetch)["code"] == "fetch_off"
    docs = httpx.get(f"{url}openapi.json").json()
    fields = docs["components"]["schemas"]["ChatCompletion"]["properties"]
    assert {"citations", "refused", "verdict", "usage", "choices"} <= set(fields)
    assert "/v1/chat/completions" in docs["paths"] and "/api/ask" in docs["paths"]
    for shape in ("Answer", "Citation", "IndexInfo", "IndexReport", "ArticlePage", "Health"):
        assert docs["components"]["schemas"][shape]["properties"], shape


def test_a_wrong_key_is_refused_through_the_openai_client(
    plain: tuple[str, QAService, Gate],
) -> None:
    wrong = openai.OpenAI(base_url=f"{plain[0]}v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.models.list()


def test_no_index_yet_is_409_with_the_clis_reason_and_a_dead_model_server_503(
    tmp_path: Path, seed_dir: Path, cache_dir: Path, embedder,  # type: ignore[no-untyped-def]
    plain: tuple[str, QAService, Gate],  # its index is built
) -> None:
    empty = Settings.load(index_dir=tmp_path / "none", cache_dir=cache_dir, progress=False,
                          ui_port=free_port())
    url, app, _gate = _serve(empty, QAService(empty, embedder=embedder))
    try:
        response = httpx.post(f"{url}v1/chat/completions",
                              json={"messages": [{"role": "user", "content": AID}]})
        assert response.status_code == 409
        assert "qa index" in str(_error(response)["message"])
    finally:
        app.close()  # type: ignore[attr-defined]
    dead = Settings.load(index_dir=seed_dir / "plain-index", cache_dir=cache_dir, progress=False,
                         ui_port=free_port(), llm_base_url=f"http://127.0.0.1:{free_port()}/v1",
                         llm_timeout=5)
    url, app, _gate = _serve(dead, QAService(dead, embedder=embedder))
    try:
        response = httpx.post(f"{url}v1/chat/completions", timeout=60,
                              json={"messages": [{"role": "user", "content": AID}]})
        assert response.status_code == 503, response.text
        assert _error(response)["type"] == "server_error"
    finally:
        app.close()  # type: ignore[attr-defined]


def test_beyond_loopback_with_no_key_nor_login_it_will_not_serve(tmp_path: Path) -> None:
    settings = Settings.load(index_dir=tmp_path / "i", ui_host="0.0.0.0", ui_port=free_port())
    with pytest.raises(ConfigError, match="QA_API_KEYS or QA_UI_AUTH"):
        launch(build_app(QAService(settings), settings), settings)


# --- with the model -----------------------------------------------------------------------

@pytest.mark.llm
def test_a_cited_answer_quotes_the_sentence_with_the_answer(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": AID}])
    text = reply.choices[0].message.content or ""
    extra = reply.model_extra or {}
    assert "65 billion" in text and "[1]" in text, text
    assert extra["refused"] is False
    assert any("65 billion euros in military aid" in c["quote"] for c in extra["citations"])
    assert {"number", "title", "outlet", "date", "url", "quote", "article_id"} <= set(
        extra["citations"][0])
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0


@pytest.mark.llm
def test_a_streamed_answer_sends_the_evidence_first_and_the_citations_last(
    client: openai.OpenAI, served: tuple[str, QAService, Gate],
) -> None:
    chunks = list(client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": AID}], stream=True))
    first, last = chunks[0].model_extra or {}, chunks[-1].model_extra or {}
    assert any("65 billion euros in military aid" in e["quote"] for e in first["evidence"])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "65 billion" in text, text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "65 billion" in last["answer"] and last["refused"] is False
    assert any("65 billion euros in military aid" in c["quote"] for c in last["citations"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


@pytest.mark.llm
def test_a_follow_up_reads_the_message_history(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="article-qa", messages=[
        {"role": "user", "content": "How much support have NATO allies given Ukraine since "
                                    "March 2022?"}])
    said = first.choices[0].message.content or ""
    assert "150 billion" in said, said
    follow = client.chat.completions.create(model="article-qa", messages=[
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "How much support have NATO allies given Ukraine since "
                                    "March 2022?"},
        {"role": "assistant", "content": said},
        {"role": "user", "content": "and how much of that was military?"}])
    text = follow.choices[0].message.content or ""
    assert "65 billion" in text, text
    assert any("65 billion euros in military aid" in c["quote"]
               for c in (follow.model_extra or {})["citations"])


@pytest.mark.llm
def test_a_refusal_is_an_ordinary_answer_flagged_with_no_citations(
    client: openai.OpenAI, served: tuple[str, QAService, Gate],
) -> None:
    question = "What is the boiling point of water on Mount Everest?"
    reply = client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": question}])
    extra = reply.model_extra or {}
    assert extra["refused"] is True and extra["citations"] == []
    assert "do not contain" in (reply.choices[0].message.content or "")
    plain = httpx.post(f"{served[0]}api/ask", json={"question": question}, timeout=300,
                       headers={"Authorization": "Bearer k1"}).json()
    assert plain["refused"] is True and plain["citations"] == []
    assert plain["question"] == question and "verdict" in plain


@pytest.mark.llm
def test_a_caller_leaving_mid_stream_frees_the_line_for_the_next(
    served: tuple[str, QAService, Gate], client: openai.OpenAI,
) -> None:
    """After a caller goes away mid-stream, every place in the answering line is free again
    and the next question is answered."""
    url, _service, gate = served
    with httpx.stream("POST", f"{url}v1/chat/completions", timeout=300,
                      headers={"Authorization": "Bearer k1"},
                      json={"messages": [{"role": "user", "content": AID}], "stream": True}
                      ) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["choices"][0]["delta"].get(
                    "content"):
                break  # the first words: leave now
    assert gate.wait_idle(timeout=60)  # every place comes back once the stream is closed
    reply = client.chat.completions.create(
        model="article-qa", messages=[{"role": "user", "content": AID}])
    assert "65 billion" in (reply.choices[0].message.content or "")
