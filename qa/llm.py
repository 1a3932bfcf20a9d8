"""The language model: one OpenAI-compatible client, and the local llama.cpp server it can use.

The only module that imports ``openai``. A remote endpoint and the packaged Qwen served by
``llama_cpp.server`` on loopback go through the same ``OpenAICompatibleLLM`` code path; failures
leave as one-line ``LLMError``/``ModelError``. Nothing starts at import or construction.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import openai

from qa.config import Settings
from qa.errors import LLMError
from qa.weights import assemble_packaged_model, check_gguf

_KEEP_LOGS = 8

# Runs llama_cpp.server as __main__ after three guards. It reads every setting from an unprefixed
# environment variable too (HOST and PORT even override its flags), so a stray PORT or API_KEY
# would silently break it: those are dropped. A watcher exits once the parent is gone, so the
# server never outlives the Python that started it, even when that one is SIGKILLed. On a CPU
# that advertises AMX, weights stay out of llama.cpp's repacked "extra" buffers: there its AMX
# q4_K kernels crashed the server (SIGSEGV on every prompt of 4 tokens or more, in this VM).
_BOOTSTRAP = """\
import os, runpy, sys, threading, time
from llama_cpp.server.settings import Settings
for name in [k for k in os.environ if k.lower() in {*Settings.model_fields, "config_file"}]:
    del os.environ[name]
parent = int(sys.argv[1])
def _watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=_watch, daemon=True).start()
if sys.argv[2] == "no-extra-buffers":
    import llama_cpp.llama_cpp as ll
    _defaults = ll.llama_model_default_params
    def _params():
        params = _defaults()
        params.use_extra_bufts = False
        return params
    ll.llama_model_default_params = _params
sys.argv = ["llama_cpp.server", *sys.argv[3:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


# Raw HTTP errors that escape openai mid-stream: httpx under openai 1.x, httpx2 under 3.x.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = tuple(
    importlib.import_module(m).HTTPError for m in ("httpx2", "httpx") if importlib.util.find_spec(m)
)


def _one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace so an error fits the CLI's single line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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
            if self.server is None or yielded or not isinstance(
                exc.__cause__, (openai.APIConnectionError, *_TRANSPORT_ERRORS)
            ):
                raise
            time.sleep(0.5)  # let a dying process finish dying, so it is seen as gone
            yield from self._stream_once(messages, max_tokens, temperature, stop)

    def _stream_once(
        self, messages: list[dict[str, str]], max_tokens: int, temperature: float,
        stop: list[str] | None,
    ) -> Iterator[str | Usage]:
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
        except (openai.OpenAIError, *_TRANSPORT_ERRORS) as exc:
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
        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return LLMError(f"the LLM at {url} did not answer in time (QA_LLM_TIMEOUT)")
        if isinstance(exc, openai.APIConnectionError):
            cause = _one_line(exc.__cause__ or exc)
            return LLMError(f"cannot reach the LLM at {url}: {cause}{self._server_note()}")
        if isinstance(exc, openai.APIStatusError):
            status, detail = exc.status_code, _one_line(exc.message)
            hint = {
                401: "refused the API key (check QA_LLM_API_KEY)",
                403: "denied access",
                404: f"has no model {self.model!r} or no chat endpoint (check QA_LLM_MODEL, "
                "and that QA_LLM_BASE_URL ends in /v1)",
                429: "is rate-limiting requests",
            }.get(status, "failed")
            return LLMError(f"the LLM at {url} {hint} (HTTP {status}): {detail}")
        if isinstance(exc, _TRANSPORT_ERRORS):
            note = self._server_note()
            return LLMError(f"the connection to the LLM at {url} broke: {_one_line(exc)}{note}")
        return LLMError(f"the LLM at {url} failed: {_one_line(exc)}")


# --- local server -------------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now: the OS picks one for a socket bound to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _cpu_has_amx() -> bool:
    """Whether /proc/cpuinfo lists Intel AMX (then the server avoids its AMX kernels)."""
    try:
        return " amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


class LocalLLMServer:
    """``llama_cpp.server`` in a child process on a free loopback port, started on demand."""

    host = "127.0.0.1"

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        cache_dir: Path,
        n_ctx: int = 4096,
        n_threads: int = 2,
        model_alias: str = "local",
        start_timeout: float = 180.0,
    ) -> None:
        self.model_path = model_path  # None: the packaged model, assembled on first start
        self.cache_dir = cache_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.model_alias = model_alias
        self.start_timeout = start_timeout
        self.log_path = cache_dir / "llama-server.log"  # renamed per start, by port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.RLock()  # stop() runs inside a failed start
        self._model_file: Path | None = None
        self._vocab: Any = None  # the model's vocabulary and chat template, loaded to count
        self._vocab_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalLLMServer:
        """A stopped server configured by QA_LLM_*; the model is located when it starts."""
        return cls(
            settings.llm_model_path,
            cache_dir=settings.cache_dir,
            n_ctx=settings.llm_ctx,
            n_threads=settings.llm_threads,
            model_alias=settings.llm_model,
        )

    @property
    def base_url(self) -> str:
        """The ``…/v1`` URL for an openai client; set once the server has been started."""
        if self._port is None:
            raise LLMError("the local LLM server has not been started")
        return f"http://{self.host}:{self._port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id while there is one (for RSS figures and tests)."""
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def ensure_running(self) -> str:
        """Start the server unless it is alive; return its base URL. Safe from several threads."""
        with self._lock:
            if not self.is_running():
                self._start()
            return self.base_url

    def command(self, model: Path, port: int) -> list[str]:
        """The child's argv: llama_cpp.server's own flags behind the parent-watching bootstrap."""
        flags = {
            "--model": str(model),
            "--model_alias": self.model_alias,
            "--host": self.host,
            "--port": str(port),
            "--n_ctx": str(self.n_ctx),
            "--n_batch": "512",
            "--n_threads": str(self.n_threads),
            "--n_threads_batch": str(self.n_threads),
            "--logits_all": "False",  # logits of every prompt token: memory we never read
            "--use_mlock": "False",  # do not pin 1 GB of RAM; mmap and the page cache suffice
            "--interrupt_requests": "False",  # a second request queues, not cuts the first short
            "--verbose": "True",  # load messages and per-request timings go to the log file
        }
        buffers = "no-extra-buffers" if _cpu_has_amx() else "extra-buffers"
        return [sys.executable, "-c", _BOOTSTRAP, str(os.getpid()), buffers] + [
            x for pair in flags.items() for x in pair
        ]

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Tokens of the prompt these chat messages make, as the server reads them: rendered
        with the GGUF's own chat template, counted with its vocabulary (loaded once, without
        the weights: 0.7 s, ~90 MB). ``None`` before the server has started."""
        with self._vocab_lock:
            if self._vocab is None:
                if self._model_file is None:
                    return None
                from llama_cpp import Llama
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                vocab = Llama(str(self._model_file), vocab_only=True, verbose=False)
                template = Jinja2ChatFormatter(
                    template=vocab.metadata["tokenizer.chat_template"],
                    eos_token=vocab._model.token_get_text(vocab.token_eos()),
                    bos_token=vocab._model.token_get_text(vocab.token_bos()),
                )
                self._vocab = (vocab, template)
            vocab, template = self._vocab
            prompt = template(messages=messages).prompt
            return len(vocab.tokenize(prompt.encode(), add_bos=False, special=True))

    def _start(self) -> None:
        if self.model_path is not None:
            model = check_gguf(self.model_path)
        else:
            model = assemble_packaged_model(self.cache_dir)
        self._model_file = model
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # the log shows errors as they happen
        # OpenMP's default wait policy (spin briefly, then sleep) is left alone: on an idle
        # 2-core machine OMP_WAIT_POLICY=PASSIVE wrote 9.5-10.9 tok/s against 14.4-17.2 by
        # default (same prompt, 2 rounds each). Set it to PASSIVE when other work shares the
        # cores while answers are generated; the server inherits the environment.
        port = free_port(self.host)
        # One log per server, so concurrent servers sharing a cache dir keep theirs apart.
        with contextlib.suppress(OSError):  # another process may be pruning too
            logs = sorted(self.cache_dir.glob("llama-server-*.log"), key=os.path.getmtime)
            for old in logs[:-_KEEP_LOGS]:
                old.unlink(missing_ok=True)
        self.log_path = self.cache_dir / f"llama-server-{port}.log"
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(model, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._port = port
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> None:
        """Poll GET /v1/models until it answers; fail fast if the process dies."""
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        url = f"{self.base_url}/models"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise LLMError(
                    f"the local LLM server exited with code {code} while starting; "
                    f"{self.log_path}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),  # URLError, refused connections
                urllib.request.urlopen(url, timeout=2.0) as resp,
            ):
                if resp.status == 200:
                    return
            if time.monotonic() > deadline:
                raise LLMError(
                    f"the local LLM server did not answer within {self.start_timeout:.0f}s; "
                    f"{self.log_path}: {self.log_tail()}"
                )
            time.sleep(0.25)

    def log_tail(self, lines: int = 5) -> str:
        """The last non-empty lines of the server log, joined into one line for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = [ln.strip() for ln in text.splitlines() if ln.strip()][-lines:]
        return _one_line(" | ".join(tail), limit=800) or "(empty log)"

    def log_error(self) -> str:
        """The last error line of the server log: why a request failed after its 200 header."""
        for _ in range(20):  # the server writes its traceback just after closing the stream
            with contextlib.suppress(OSError):
                lines = self.log_path.read_text(errors="replace").splitlines()[-50:]
                for line in reversed(lines):
                    if "Error" in line:
                        return _one_line(line)
            time.sleep(0.1)
        return "(no error in the log)"

    def stop(self) -> None:
        """Terminate the server, kill it if it lingers, and reap it. Idempotent."""
        with self._lock:
            proc, self._proc = self._proc, None
            atexit.unregister(self.stop)
            if proc is None or proc.poll() is not None:
                return
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> LocalLLMServer:
        self.ensure_running()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


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
