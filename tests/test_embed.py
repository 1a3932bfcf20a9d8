"""The ONNX embedder: exported from the verified packaged weights, checked against torch,
refused from tampered weights, rebuilt when stale, made once by two processes at a time.
Real weights, real torch export, real onnxruntime; nothing is timed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.embedding.embed import (
    MINILM_SHA256,
    embedder_for,
    load_embedder,
    model_spec,
    packaged_model_dir,
)
from qa.embedding.onnx_export import (
    FP32_FILE,
    INT8_FILE,
    STAMP_FILE,
    export_folder,
    onnx_models,
)
from qa.errors import ModelError
from qa.weights import sha256_file

SENTENCES = [
    "NATO allies have delivered more than 65 billion euros of military aid to Ukraine.",
    "Who did Stoltenberg meet in Kyiv?",
    "Apple reported record services revenue while iPhone sales in China slipped.",
    "ok",
    " ".join(["The budget committee met again on Tuesday."] * 60),  # cut at 256 word-pieces
]


def _packaged_spec():  # type: ignore[no-untyped-def]
    return model_spec(packaged_model_dir(), packaged=True)


def test_export_is_made_from_the_packaged_weights_and_verified(embedder, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    spec = _packaged_spec()
    models = onnx_models(spec, cache_dir=cache_dir)
    stamp = models.stamp
    assert stamp["source_sha256"] == MINILM_SHA256
    # the cache is per user: another install of the same weights may have made this export
    assert Path(stamp["source"]).name == "model.safetensors"
    assert (stamp["max_length"], stamp["pooling"]) == (256, "mean")
    assert stamp["verified"]["fp32_max_abs_diff_vs_torch"] <= 1e-4
    for name in (FP32_FILE, INT8_FILE):
        assert sha256_file(models.folder / name) == stamp["files"][name]["sha256"]
    default = Settings.model_fields["embed_backend"].default
    assert embedder.info.backend == default  # the fixture is the default backend ...
    assert embedder.model_path == str(models.int8 if default == "onnx-int8" else models.fp32)

    # ... checked here again, independently of the stamp: fp32 gives sentence-transformers'
    # vectors, int8 nearly
    torch_vectors = np.array(load_embedder(spec, backend="torch", cache_dir=cache_dir)
                             .get_text_embedding_batch(SENTENCES))
    fp32 = load_embedder(spec, backend="onnx", cache_dir=cache_dir)
    fp32_vectors = np.array(fp32.get_text_embedding_batch(SENTENCES))
    assert np.abs(fp32_vectors - torch_vectors).max() < 1e-4
    int8 = load_embedder(spec, backend="onnx-int8", cache_dir=cache_dir)
    int8_vectors = np.array(int8.get_text_embedding_batch(SENTENCES))
    assert np.allclose(np.linalg.norm(int8_vectors, axis=1), 1.0, atol=1e-5)
    cosines = (int8_vectors * fp32_vectors).sum(axis=1)
    assert cosines.min() > 0.95 and np.median(cosines) > 0.99  # a two-word text moves most
    assert int8.info.label() == "all-MiniLM-L6-v2 (onnx-int8, 384-dim)"


def test_a_question_runs_on_one_thread_and_a_vector_ignores_its_neighbours(embedder) -> None:  # type: ignore[no-untyped-def]
    options = embedder.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    texts = SENTENCES * 7
    side_by_side = embedder.embed(texts, threads=2)  # texts of a batch on two threads
    one_thread = embedder.embed(texts[::-1], threads=1)[::-1]
    # int8 activations are scaled per run: each text runs alone, so its vector is its own
    assert np.array_equal(side_by_side, one_thread)
    assert np.array_equal(side_by_side[:5], side_by_side[5:10])
    query = np.array(embedder.get_query_embedding(SENTENCES[0]), dtype=np.float32)
    assert np.array_equal(query, one_thread[0])


def test_tampered_source_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(packaged_model_dir(), copy)
    weights = copy / "model.safetensors"
    with weights.open("r+b") as fh:  # one byte of the weights flipped, size unchanged
        fh.seek(50_000_000)
        byte = fh.read(1)
        fh.seek(50_000_000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(ModelError, match="checksum"):
        onnx_models(model_spec(copy, packaged=True), cache_dir=cache)
    assert not (cache / "onnx").exists(), "nothing is exported from tampered weights"


def _export_in_subprocess(cache: Path) -> subprocess.Popen[bytes]:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from qa.embedding.embed import model_spec, packaged_model_dir\n"
        "from qa.embedding.onnx_export import onnx_models\n"
        "m = onnx_models(model_spec(packaged_model_dir(), packaged=True), "
        f"cache_dir=Path({str(cache)!r}))\n"
        "print(json.dumps({'folder': str(m.folder), 'files': m.stamp['files']}))\n"
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ})


def test_killed_export_leaves_nothing_and_two_processes_export_once(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = _packaged_spec()
    final = export_folder(spec, MINILM_SHA256, cache_dir=cache)

    killed = _export_in_subprocess(cache)
    deadline = time.monotonic() + 300
    while killed.poll() is None and time.monotonic() < deadline:
        if any((b / FP32_FILE).exists() for b in (cache / "onnx").glob(".build-*")):
            killed.send_signal(signal.SIGKILL)  # mid-build: the fp32 file is being written
            break
        time.sleep(0.05)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, killed.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    assert not final.exists(), "a killed export leaves no half-written model in place"

    first, second = _export_in_subprocess(cache), _export_in_subprocess(cache)
    results = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    assert results[0] == results[1], "the second process reused the first one's files"
    assert Path(results[0]["folder"]) == final
    assert sorted(p.name for p in (cache / "onnx").iterdir()) == [".export.lock", final.name]
    assert json.loads((final / STAMP_FILE).read_text())["source_sha256"] == MINILM_SHA256


def test_touched_or_stale_export_is_rebuilt(tmp_path: Path, embedder, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    spec = _packaged_spec()
    good = onnx_models(spec, cache_dir=cache_dir)
    cache = tmp_path / "cache"
    copied = export_folder(spec, MINILM_SHA256, cache_dir=cache)
    shutil.copytree(good.folder, copied)  # copy2 keeps mtimes, so the stamp still holds
    assert onnx_models(spec, cache_dir=cache).stamp["made"] == good.stamp["made"]

    # an export of earlier weights of the same source file, and a damaged int8 copy
    older = cache / "onnx" / f"{spec.name}-{'0' * 12}-v1"
    older.mkdir()
    this_source = str((spec.folder / spec.weights).resolve())
    (older / STAMP_FILE).write_text(json.dumps({"source": this_source}))
    with (copied / INT8_FILE).open("ab") as fh:
        fh.write(b"\0")
    rebuilt = onnx_models(spec, cache_dir=cache)
    assert rebuilt.folder == copied
    assert sha256_file(rebuilt.int8) == rebuilt.stamp["files"][INT8_FILE]["sha256"]
    assert rebuilt.int8.stat().st_size == rebuilt.stamp["files"][INT8_FILE]["size"]
    assert not older.exists(), "exports of other weights of this source are dropped"
    again = embedder_for(Settings.load(cache_dir=cache))
    assert again.model_path in (str(rebuilt.int8), str(rebuilt.fp32))
    vectors = again.get_text_embedding_batch(SENTENCES[:2])
    assert np.allclose(vectors, embedder.get_text_embedding_batch(SENTENCES[:2]), atol=1e-5)
