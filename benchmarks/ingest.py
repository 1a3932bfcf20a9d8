"""Ingest throughput: ours vs llama-index's default pipeline vs the embedder alone.

    python benchmarks/ingest.py --corpus ../shared/eval/multihop-rag/corpus.json [--articles 80]

Runs ``qa.faces.eval.run_ingest`` (what ``qa eval ingest`` runs) and writes
``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from qa.config import Settings
from qa.faces.eval import format_ingest, run_ingest

RESULTS = Path(__file__).resolve().parent / "results"


def cpu() -> str:
    """The processor, cores and its int8 dot-product instructions, from /proc/cpuinfo (Linux):
    onnxruntime's int8 kernels gain most with VNNI. The ratio depends on the host: the same
    run took 15.3 s (ours) and 43.7 s (llama-index) on an earlier host whose CPU was not
    recorded, 52.5 s and 117.2 s on an AVX2-only AMD EPYC (2026-12-02)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return "unknown"
    field = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    flags = set(field.get("flags\t\t", field.get("flags", "")).split())
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    name = field.get("model name\t", field.get("model name", "?")).strip()
    return f"{name}, {os.cpu_count()} cores, {' '.join(simd) or 'no AVX2'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--articles", type=int, default=None,
                        help="only the first N articles of a JSON corpus (the whole corpus "
                             "takes about 45 CPU-minutes of embedding)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    corpus, name = args.corpus, args.corpus.name
    with tempfile.TemporaryDirectory() as tmp:
        if args.articles:
            records = json.loads(args.corpus.read_text(encoding="utf-8"))[: args.articles]
            corpus = Path(tmp) / args.corpus.name
            corpus.write_text(json.dumps(records), encoding="utf-8")
            name = f"{args.corpus.name}, first {len(records)} articles"
        report = run_ingest(Settings.load(progress=False), corpus,
                            log=lambda m: print(m, file=sys.stderr))
    print(format_ingest(report))
    report["corpus"] = name
    report["cpu"] = cpu()
    report["date"] = time.strftime("%Y-%m-%d")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
