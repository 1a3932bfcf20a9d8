"""The local model server: ``llama_cpp.server`` with the packaged Qwen GGUF in a child process
on a free loopback port, started on demand and stopped with the Python that started it.

``qa.llm.client.OpenAICompatibleLLM`` talks to it like to any OpenAI-compatible endpoint; this
module only owns its life (start, readiness, logs, restart, stop) and its vocabulary, with which the
client counts prompt tokens the server does not report.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

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
        n_batch: int = 512,
        model_alias: str = "local",
        start_timeout: float = 180.0,
    ) -> None:
        self.model_path = model_path  # None: the packaged model, assembled on first start
        self.cache_dir = cache_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
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
            n_batch=settings.llm_batch,
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
            "--n_batch": str(self.n_batch),
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
        return one_line(" | ".join(tail), limit=800) or "(empty log)"

    def log_error(self) -> str:
        """The last error line of the server log: why a request failed after its 200 header."""
        for _ in range(20):  # the server writes its traceback just after closing the stream
            with contextlib.suppress(OSError):
                lines = self.log_path.read_text(errors="replace").splitlines()[-50:]
                for line in reversed(lines):
                    if "Error" in line:
                        return one_line(line)
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


def one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace so an error fits the CLI's single line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
