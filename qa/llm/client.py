"""The language model: one OpenAI-compatible client, and the local llama.cpp server it can use.

The only module that imports ``openai``. A remote endpoint and the packaged Qwen served by
``llama_cpp.server`` on loopback go through the same ``OpenAICompatibleLLM`` code path; failures
leave as one-line ``LLMError``/``ModelError``. Nothing starts at import or construction.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from qa.config import Settings
from qa.errors import LLMError
from qa.llm.local import LocalLLMServer, free_port, one_line

if TYPE_CHECKING:
    import openai

# openai is imported at the first request, not with this module: its import takes about half
# a second here, and a process that only retrieves (`qa eval retrieval`, the retrieval
# benchmarks, the llama-index retriever) never needs it.

__all__ = ["LLM", "LocalLLMServer", "OpenAICompatibleLLM", "Usage", "free_port", "make_llm"]


@functools.cache
def _transport_errors() -> tuple[type[Exception], ...]:
    """Raw HTTP errors that escape openai mid-stream: httpx under openai 1.x, httpx2 under 3.x."""
    return tuple(importlib.import_module(m).HTTPError
                 for m in ("httpx2", "httpx") if importlib.util.find_spec(m))


@dataclass(frozen=True)
class Usage:
    """Tokens one request cost: the prompt as the model read it, and what it wrote."""

    prompt_tokens: int | None
    completion_tokens: int | None


class LLM(Protocol):
    """What the answer stage needs from a chat model: streamed text (``stream`` may end with
    one ``Usage``), or all of the text at once."""

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str | Usage]: ...

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str: ...


class OpenAICompatibleLLM:
    """Chat completions over any OpenAI-compatible endpoint, streamed, errors as ``LLMError``."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "local",
        api_key: str | None = None,
        timeout: float = 600.0,
        max_retries: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.server: LocalLLMServer | None = None
        self._api_key = api_key
        self._timeout = timeout
        self._max_retries = max_retries
        self._client: openai.OpenAI | None = None

    @classmethod
    def for_server(
        cls, server: LocalLLMServer, *, model: str = "local", timeout: float = 600.0
    ) -> OpenAICompatibleLLM:
        """A client of a local server that is started by the first request, not before."""
        llm = cls("", model=model, timeout=timeout, max_retries=0)  # loopback: nothing to retry
        llm.server = server
        return llm

    def _openai(self) -> openai.OpenAI:
        """The client, once the local server (if any) is up; a restart may change its port."""
        if self.server is not None:
            base_url = self.server.ensure_running()
            if base_url != self.base_url:
                self.base_url, self._client = base_url, None
        if self._client is None:
            import openai

            # An explicit key stops openai from reading OPENAI_API_KEY behind the caller's back;
            # local servers accept any key.
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self._api_key or "not-needed",
                timeout=self._timeout,
                max_retries=self._max_retries,
            )
        return self._client

    def stream(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> Iterator[str | Usage]:
        """Yield text deltas as the server produces them, then one ``Usage``.

        Token counts come from the server when it reports them (``stream_options``); the
        local llama.cpp server does not, so its prompt is counted with the model's own
        vocabulary and its completion by streamed tokens (one per chunk). A local server that
        died between two questions (say, the OOM killer) is restarted: a connection that fails
        before any text arrived is retried once on a fresh server. Closing the iterator early
        closes the HTTP stream, and llama.cpp's server stops generating at its next token.
        """
        yielded = False
        try:
            for delta in self._stream_once(messages, max_tokens, temperature, stop):
                yielded = True
                yield delta
        except LLMError as exc:
            import openai

            if self.server is None or yielded or not isinstance(
                exc.__cause__, (openai.APIConnectionError, *_transport_errors())
            ):
                raise
            time.sleep(0.5)  # let a dying process finish dying, so it is seen as gone
            yield from self._stream_once(messages, max_tokens, temperature, stop)

    def _stream_once(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
        stop: list[str] | None,
    ) -> Iterator[str | Usage]:
        import openai

        client = self._openai()
        usage: Usage | None = None
        deltas = 0
        try:
            chunks = client.chat.completions.create(
                model=self.model,
                messages=messages,  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop or None,
                stream=True,
                stream_options={"include_usage": True},
            )
            finished = False
            with chunks:
                for chunk in chunks:
                    if chunk.usage is not None:
                        usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                    if not chunk.choices:
                        continue
                    if chunk.choices[0].delta.content:
                        deltas += 1
                        yield chunk.choices[0].delta.content
                    finished = finished or chunk.choices[0].finish_reason is not None
        except (openai.OpenAIError, *_transport_errors()) as exc:
            raise self._translate(exc) from exc
        if usage is None and finished:
            counted = self.server.count_prompt_tokens(messages) if self.server else None
            usage = Usage(counted, deltas)
        if usage is not None:
            yield usage
        if not finished:
            # llama_cpp.server fails a streamed request after its 200 header (e.g. a prompt
            # longer than n_ctx) by ending the stream early: without this, an empty answer.
            raise LLMError(
                f"the LLM at {self.base_url} ended its answer early (is the prompt plus "
                f"max_tokens longer than its context window?){self._server_note()}"
            )

    def _server_note(self) -> str:
        """Where a local server says what went wrong; remote servers keep their logs."""
        if self.server is None:
            return ""
        return f"; {self.server.log_path}: {self.server.log_error()}"

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        stop: list[str] | None = None,
    ) -> str:
        """The whole answer, from the same streamed request so both paths fail alike."""
        parts = self.stream(messages, max_tokens=max_tokens, temperature=temperature, stop=stop)
        return "".join(p for p in parts if isinstance(p, str))

    def _translate(self, exc: Exception) -> LLMError:
        """Name the endpoint and the likely fix in one line."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(f"the LLM at {url} did not answer in time (QA_LLM_TIMEOUT)")
        if isinstance(exc, openai.APIConnectionError):
            cause = one_line(exc.__cause__ or exc)
            return LLMError(f"cannot reach the LLM at {url}: {cause}{self._server_note()}")
        if isinstance(exc, openai.APIStatusError):
            status, detail = exc.status_code, one_line(exc.message)
            hint = {
                401: "refused the API key (check QA_LLM_API_KEY)",
                403: "denied access",
                404: f"has no model {self.model!r} or no chat endpoint (check QA_LLM_MODEL, "
                "and that QA_LLM_BASE_URL ends in /v1)",
                429: "is rate-limiting requests",
            }.get(status, "failed")
            return LLMError(f"the LLM at {url} {hint} (HTTP {status}): {detail}")
        if isinstance(exc, _transport_errors()):
            note = self._server_note()
            return LLMError(f"the connection to the LLM at {url} broke: {one_line(exc)}{note}")
        return LLMError(f"the LLM at {url} failed: {one_line(exc)}")


def make_llm(settings: Settings) -> tuple[LLM, LocalLLMServer | None]:
    """The configured LLM, and the local server behind it (not yet started) for callers to stop."""
    if settings.llm_base_url:
        llm = OpenAICompatibleLLM(
            settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
        )
        return llm, None
    server = LocalLLMServer.from_settings(settings)
    llm = OpenAICompatibleLLM.for_server(
        server, model=settings.llm_model, timeout=settings.llm_timeout
    )
    return llm, server
