"""The HTTP API: OpenAI-compatible chat completions with citations, and a plain JSON API.

Served beside the chat window from one FastAPI app on one port (``qa.faces.server``), over
the same ``QAService`` and the same answering gate, so a question from the API and one from the
chat window wait in one line.

``POST /v1/chat/completions`` speaks the protocol of OpenAI's chat completions API
(https://platform.openai.com/docs/api-reference/chat), so the ``openai`` clients, Open WebUI or
llama-index's ``OpenAILike`` can ask: the last user message is the question, earlier turns are
the history. Citations travel as extra fields that standard clients ignore: ``citations`` on the
response; in a stream, ``evidence`` on the first chunk (what the model reads, numbered as the
streamed text's markers) and, on the last, ``citations`` with the checked ``answer`` text whose
markers number them (the streamed text is the model's as written; the check may drop or
renumber markers, as the chat window's final answer does). Errors have OpenAI's shape,
``{"error": {"message", "type", "code"}}``.

``/api/ask``, ``/api/index`` and ``/health`` are for scripts that do not want the chat shape.
``QA_API_KEYS`` turns on ``Authorization: Bearer`` checks for ``/v1`` and ``/api``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from qa.config import Settings
from qa.errors import ConfigError, IngestError, LLMError, NoIndexError, QAError
from qa.faces.api_schema import (
    ArticleOut,
    ArticlePage,
    AskRequest,
    ChatCompletion,
    ChatRequest,
    Health,
    IndexInfo,
    IndexRequest,
)
from qa.faces.library import resolve_under_root
from qa.models import Answer, Chunk, Citation, Evidence, IndexReport
from qa.service import QAService

MODEL_ID = "article-qa"
END = object()  # what ``Answering.next`` gives after the last item


class APIError(Exception):
    """An error answered in OpenAI's shape with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type, code

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


def from_qa_error(exc: QAError) -> APIError:
    """The HTTP status of one of our errors, with its one-line message: no index yet 409 (the
    reason ``qa ask`` gives), the model server down 503, a bad folder or setting the caller
    sent 400, the store or model files failing 500."""
    if isinstance(exc, NoIndexError):
        return APIError(409, str(exc), code="no_index")
    if isinstance(exc, LLMError):
        return APIError(503, str(exc), type="server_error", code="model_unavailable")
    if isinstance(exc, ConfigError | IngestError):
        return APIError(400, str(exc), code="bad_input")
    return APIError(500, str(exc), type="server_error", code="store_or_model_failed")


def source_dict(number: int, article: Citation | Chunk, quote: str) -> dict[str, Any]:
    """What a caller needs of a numbered source, a citation or an evidence snippet: its
    number in the text, its article (a ``Citation`` or a snippet's passage) and the quote."""
    return {"number": number, "title": article.title, "outlet": article.source,
            "date": article.published_at[:10], "url": article.url, "quote": quote,
            "article_id": article.article_id}


def evidence_dicts(evidence: Evidence) -> list[dict[str, Any]]:
    """The snippets the model reads, numbered as its markers are."""
    return [source_dict(s.number, s.passage, s.text) for s in evidence.snippets]


def answer_fields(answer: Answer) -> dict[str, Any]:
    """The fields a chat completion adds for our answers: citations, whether it is a refusal,
    how it was checked."""
    return {"citations": [source_dict(c.number, c, c.quote) for c in answer.citations],
            "refused": answer.refused, "verdict": answer.verdict,
            "unsupported": list(answer.unsupported),
            "period": dataclasses.asdict(answer.period) if answer.period else None}


def usage(answer: Answer) -> dict[str, int]:
    prompt, completion = answer.prompt_tokens or 0, answer.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def question_of(request: ChatRequest, limit: int) -> tuple[str, list[tuple[str, str]]]:
    """The question (the last user message) and the history (earlier user/assistant pairs,
    system turns left out) of a chat completions request; ``APIError`` 400 when the last
    message is no user text, 413 for a question over ``limit`` characters."""
    turns = [(m.role, m.text) for m in request.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise APIError(400, "the last message must be a non-empty user message",
                       code="empty_question")
    question = turns[-1][1].strip()
    check_length(question, limit)
    history, asked = [], ""
    for role, content in turns[:-1]:
        if role == "user":
            asked = content
        elif asked:
            history.append((asked, content))
            asked = ""
    return question, history


def check_length(question: str, limit: int) -> None:
    """``APIError`` 413 for a question over ``limit`` characters."""
    if len(question) > limit:
        raise APIError(413, f"the question has {len(question)} characters; at most {limit} "
                       "(QA_API_MAX_QUESTION_CHARS)", code="question_too_long")


class Gate:
    """The answering line shared by the chat window and the API: at most ``size`` questions
    at once (one's evidence while another's answer is written)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._slots = threading.BoundedSemaphore(size)

    async def enter(self) -> None:
        await run_in_threadpool(self._slots.acquire)

    def wait_idle(self, timeout: float) -> bool:
        """Whether every place in the line is free within ``timeout`` seconds (for tests and
        health checks: nobody is being answered)."""
        taken = 0
        try:
            while taken < self._size and self._slots.acquire(timeout=timeout):
                taken += 1
            return taken == self._size
        finally:
            for _ in range(taken):
                self._slots.release()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """The same line for code on a worker thread (the chat window's handlers)."""
        self._slots.acquire()
        try:
            yield
        finally:
            self._slots.release()

    def leave(self) -> None:
        self._slots.release()


def build_api(service: QAService, settings: Settings, gate: Gate) -> FastAPI:
    """The FastAPI app with ``/v1``, ``/api`` and ``/health``; the chat window is mounted on
    it by ``qa.faces.server.launch``."""
    app = FastAPI(title="article-qa API", description=__doc__.split("\n\n")[0])
    keys = [k.strip() for k in (settings.api_keys or "").split(",") if k.strip()]

    @app.exception_handler(APIError)
    async def _api_error(_request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(QAError)
    async def _qa_error(_request: Request, exc: QAError) -> JSONResponse:
        return from_qa_error(exc).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid" or tuple(first.get("loc", ())) == ("body",):
            return APIError(400, "the request body must be a JSON object",
                            code="invalid_json").response()
        where = ".".join(str(x) for x in first.get("loc", ())[1:]) or "body"
        return APIError(400, f"{where}: {first.get('msg', 'invalid')}",
                        code="invalid_request").response()

    def authorised(request: Request) -> None:
        if not keys:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not any(
                hmac.compare_digest(given.strip().encode(), k.encode()) for k in keys):
            raise APIError(401, "a valid API key is required (Authorization: Bearer …)",
                           type="authentication_error", code="invalid_api_key")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(authorised)])

    @v1.get("/models")
    def models() -> dict[str, Any]:
        """The one model: answers from the index at ``index``."""
        return {"object": "list", "data": [{
            "id": MODEL_ID, "object": "model", "created": 0, "owned_by": "article-qa",
            "index": str(settings.index_dir)}]}

    @v1.post("/chat/completions", response_model=None,
             responses={200: {"model": ChatCompletion, "description": "The answer; with "
                              "stream, server-sent chat.completion.chunk events instead"}})
    async def chat_completions(body: ChatRequest) -> JSONResponse | StreamingResponse:
        """OpenAI chat completions: the last user message is the question, earlier turns the
        history; the answer's ``citations``, ``refused`` and ``verdict`` ride along. In a
        stream the first chunk carries ``evidence`` and the last ``citations`` and ``answer``."""
        if body.model != MODEL_ID:
            raise APIError(404, f"the model {body.model!r} does not exist; this server has "
                           f"{MODEL_ID!r}", code="model_not_found")
        question, history = question_of(body, settings.api_max_question_chars)
        reply_id, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        head = {"id": reply_id, "created": created, "model": MODEL_ID}
        await gate.enter()
        answering = Answering(service.stream(question, history=history, since=body.since,
                                             until=body.until, outlets=body.outlets), gate)
        try:
            first = await answering.next()  # no index, say: an error status, not a stream
            if not body.stream:
                answer = first
                while not isinstance(answer, Answer):
                    if answer is END:
                        raise LLMError("the answer ended without an answer")
                    answer = await answering.next()
                return JSONResponse({
                    **head, "object": "chat.completion",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": answer.text}}],
                    "usage": usage(answer), **answer_fields(answer)})
        except BaseException:
            answering.stop()
            raise
        return StreamingResponse(_chunks(answering, first, head),
                                 media_type="text/event-stream")

    api = APIRouter(prefix="/api", dependencies=[Depends(authorised)])

    @api.post("/ask", response_model=Answer)
    async def ask(body: AskRequest) -> dict[str, Any]:
        """A question → the ``Answer`` as ``qa ask --json`` prints it."""
        question = body.question.strip()
        if not question:
            raise APIError(400, "'question' must be non-empty text", code="empty_question")
        check_length(question, settings.api_max_question_chars)
        await gate.enter()
        try:
            answer = await run_in_threadpool(service.ask, question, history=body.history,
                                             evidence=body.evidence, since=body.since,
                                             until=body.until, outlets=body.outlets)
        finally:
            gate.leave()
        return answer.to_dict()

    @api.get("/articles")
    def articles(offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=1000)
                 ) -> ArticlePage:
        """The indexed articles, newest first, ``limit`` from ``offset``."""
        entries = service.articles()
        return ArticlePage(total=len(entries), offset=offset, limit=limit, articles=[
            ArticleOut(article_id=e.article_id, title=e.title, outlet=e.source,
                       date=e.published_at[:10], url=e.url, chunks=e.chunks)
            for e in entries[offset:offset + limit]])

    @api.post("/index", responses={200: {"model": IndexReport, "description": "The "
                                           "IndexReport, plus its one-line summary"}})
    async def rebuild(body: IndexRequest) -> dict[str, Any]:
        """Rebuild from a folder under QA_ARTICLES_ROOT (the index mirrors it) and/or fetch
        web pages and feeds into it (only when QA_UI_FETCH allows the server to); the
        ``IndexReport`` with its one-line ``summary``."""
        if not body.folder and not body.urls:
            raise APIError(400, "give a 'folder' under QA_ARTICLES_ROOT or 'urls'",
                           code="nothing_to_index")
        if body.urls and not settings.ui_fetch:
            raise APIError(403, "fetching URLs is off: the server would make the requests "
                           "(QA_UI_FETCH=1 turns it on)", type="permission_error",
                           code="fetch_off")
        path = resolve_under_root(body.folder, settings.articles_root) if body.folder else None
        report = await run_in_threadpool(service.ingest, path, urls=body.urls)
        return {**dataclasses.asdict(report), "summary": report.summary()}

    @api.get("/index")
    def index() -> IndexInfo:
        """What ``qa info`` says of the index: counts, where, built from, the embedder."""
        stats = service.stats()
        return IndexInfo(articles=stats.articles, chunks=stats.chunks, built_at=stats.built_at,
                         source=stats.source, where=stats.where, embedder=stats.embedder,
                         problem=stats.problem, exists=stats.exists)

    @app.get("/health")
    def health() -> Health:
        """Up, and how many articles it answers from."""
        return Health(status="ok", articles=service.stats().articles)

    app.include_router(v1)
    app.include_router(api)
    return app


class Answering:
    """One question answered on a thread of its own, its items (``QAService.stream``'s, then
    ``END``) handed over through a queue. The thread, not the caller, closes the stream: a
    caller who goes away calls ``stop``, and at the next item (a token, tens of milliseconds)
    the thread closes the stream, which stops the model's work on it, and leaves the gate."""

    def __init__(self, items: Iterator[Any], gate: Gate) -> None:
        self._items: queue.Queue[Any] = queue.Queue()
        self._stop = threading.Event()
        threading.Thread(target=self._run, args=(items, gate), daemon=True,
                         name="qa-api-answer").start()

    def _run(self, items: Iterator[Any], gate: Gate) -> None:
        try:
            for item in items:
                if self._stop.is_set():
                    break
                self._items.put(item)
        except Exception as exc:  # handed to the caller, who answers it with a status
            self._items.put(exc)
        finally:
            close = getattr(items, "close", None)
            if close:
                close()
            gate.leave()
            self._items.put(END)

    async def next(self) -> Any:
        """The next item, ``END`` after the last; an error the stream raised is raised."""
        item = await run_in_threadpool(self._items.get)
        if isinstance(item, Exception):
            raise item
        return item

    def stop(self) -> None:
        self._stop.set()


async def _chunks(answering: Answering, first: Any, head: dict[str, Any]) -> AsyncIterator[str]:
    """Server-sent events of chat completion chunks. A caller who goes away cancels this
    generator (Starlette does on disconnect); ``finally`` then stops the answer."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {**head, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    streamed, started, item = "", False, first
    try:
        while item is not END:
            if isinstance(item, Evidence):
                yield chunk({"role": "assistant", "content": ""}, evidence=evidence_dicts(item))
                started = True
            elif isinstance(item, Answer):
                if not started:
                    yield chunk({"role": "assistant", "content": ""}, evidence=[])
                if not streamed:  # a refusal is held back while written: send it whole
                    yield chunk({"content": item.text})
                yield chunk({}, "stop", usage=usage(item), answer=item.text,
                            **answer_fields(item))
            elif item:
                streamed += item
                yield chunk({"content": item})
            try:
                item = await answering.next()
            except QAError as exc:  # mid-stream: the status is sent, so an error event
                yield f"data: {json.dumps(from_qa_error(exc).body())}\n\n"
                break
        yield "data: [DONE]\n\n"
    finally:
        answering.stop()


__all__ = ["MODEL_ID", "APIError", "Gate", "build_api", "question_of"]
