"""Shared fixtures: real files, the real embedder, real Chroma, one real local LLM server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# The local model's arithmetic, which differs by CPU as it does by thread count and batch size:
# `make test-arithmetic` reruns the model's tests with other values, as another CPU would.
LLM_ARITHMETIC = {name: int(os.environ[f"QA_{name.upper()}"])
                  for name in ("llm_threads", "llm_batch") if f"QA_{name.upper()}" in os.environ}
for _key in [k for k in os.environ if k.startswith("QA_")]:  # tests choose their own settings
    del os.environ[_key]

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SEED = SHARED / "seed" / "nato-ukraine-stoltenberg.txt"
MULTIHOP = SHARED / "eval" / "multihop-rag"
# Where Stoltenberg spoke to reporters on Friday, as any correct answer may name it: the base,
# or the true, less specific country it is in. llama.cpp's arithmetic differs by CPU, so the
# model's wording does too ("at Ramstein U.S. Air Base" or "at a meeting in Germany").
PLACES = ("Ramstein", "Germany")


def place_named(text: str) -> str:
    """The first of ``PLACES`` that ``text`` names ("" when none)."""
    return next((p for p in PLACES if p in text), "")
# A wire story of our own, for near-duplicate tests (about 110 words).
WIRE = (
    "Rescue teams in northern Italy searched on Tuesday for three hikers missing since a storm "
    "swept across the Dolomites on Sunday night, the regional civil protection agency said. "
    "The hikers, two Germans and an Austrian, had set out from a refuge near Cortina d'Ampezzo "
    "and were last heard from by phone at about 6 p.m. Helicopters were grounded on Monday by "
    "low cloud and strong winds, but resumed flights at first light. More than forty rescuers "
    "and four dogs are taking part in the search, which covers an area of about twenty square "
    "kilometres. Officials said temperatures at altitude had fallen below freezing overnight."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's cache (assembled GGUF, checksum stamps) is reused: assembling costs 1 GB."""
    from qa.config import Settings

    return Settings.load().cache_dir


@pytest.fixture(scope="session")
def embedder(cache_dir: Path):  # type: ignore[no-untyped-def]
    """The default embedder (QA_EMBED_BACKEND's default), loaded once for the session; its
    ONNX export is made in the user's cache on first use, as ``qa`` itself does."""
    from qa.config import Settings
    from qa.embedding.embed import embedder_for

    return embedder_for(Settings.load(cache_dir=cache_dir))


@pytest.fixture
def make_settings(tmp_path: Path, cache_dir: Path):  # type: ignore[no-untyped-def]
    """Settings over a fresh index folder; keyword overrides as ``Settings.load`` takes them."""
    from qa.config import Settings

    def make(**overrides: object) -> Settings:
        overrides.setdefault("index_dir", tmp_path / "index")
        overrides.setdefault("cache_dir", cache_dir)
        overrides.setdefault("progress", False)
        return Settings.load(**overrides)

    return make


def seed_tree(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A new folder holding ``articles/`` with the seed article in it (a served app's
    QA_ARTICLES_ROOT)."""
    root = tmp_path_factory.mktemp(name)
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    return root


@pytest.fixture
def seed_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SEED, folder / SEED.name)
    return folder


@pytest.fixture(scope="session")
def local_llm(cache_dir: Path) -> Iterator[object]:
    """The packaged Qwen model behind the real llama.cpp server, started once per session."""
    from qa.config import Settings
    from qa.llm.client import make_llm

    llm, server = make_llm(Settings.load(cache_dir=cache_dir, **LLM_ARITHMETIC))
    if server is not None:
        server.ensure_running()  # pay the cold start here, not inside the first test
    try:
        yield llm
    finally:
        if server is not None:
            server.stop()


@pytest.fixture(scope="session")
def llm_base_url(local_llm: object) -> str:
    """Base URL of the running local server: a real OpenAI-compatible endpoint on loopback."""
    local_llm.complete([{"role": "user", "content": "Say OK."}], max_tokens=2)  # type: ignore[attr-defined]
    return str(local_llm.base_url)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def seed_service(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, embedder, local_llm):  # type: ignore[no-untyped-def]
    """A QAService over an index of the seed article, answering with the local model."""
    from qa.config import Settings
    from qa.service import QAService

    folder = tmp_path_factory.mktemp("seed-articles")
    shutil.copy(SEED, folder / SEED.name)
    settings = Settings.load(
        index_dir=folder.parent / "seed-index", cache_dir=cache_dir, progress=False
    )
    service = QAService(settings, llm=local_llm, embedder=embedder)  # type: ignore[arg-type]
    service.ingest(folder)
    return service


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[str]:
    """A real ``chroma run`` server on a free loopback port; yields its URL."""
    port = free_port()
    exe = Path(sys.executable).with_name("chroma")
    log = (tmp_path / "chroma.log").open("wb")
    proc = subprocess.Popen(
        [
            str(exe),
            "run",
            "--path",
            str(tmp_path / "chroma-data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "chroma.log").read_text()[-2000:]) from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
