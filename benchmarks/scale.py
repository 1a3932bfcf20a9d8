"""The cost curve (issue 13): index size, build time, start time, memory and retrieval latency
against corpus size, from 1x the MultiHop-RAG corpus to 30x and beyond.

    D=../shared/eval/multihop-rag
    python benchmarks/scale.py --sizes 1,10,30 --corpus $D/corpus.json \\
        --queries $D/queries-dev.json --work /tmp/qa-scale
    python benchmarks/scale.py plot          # docs/scale.png from benchmarks/results/scale.json
    python benchmarks/scale.py start --index /tmp/mh-index --queries $D/queries-dev.json \
        --runs 3 --label "main at <commit>, idle"   # appended to results/start-609.json

Per size N, each step in its own process (so no process holds another's store open):

- corpus: the 609 real articles plus (N - 1) x 609 synthetic ones, each made of sentences
  drawn from different real articles (so near-duplicate folding keeps them all), with a
  real article's outlet and a date in the corpus's range;
- ``build``: ``qa index``'s ``build_index`` from scratch into ``WORK/index-Nx``. Vectors are
  computed by the real embedder for sizes up to ``--computed-max`` (default 1); above it the
  real articles' chunks get their real vectors (from the 1x index) and each synthetic chunk a
  real chunk's vector perturbed (``SyntheticEmbedder``); the build time is then projected with
  the 1x build's embedding rate (both are reported);
- ``probe``, twice (embedded Chroma, then against ``chroma run`` on the same folder): a fresh
  process from its start to its first retrieval, its resident memory, then retrieval p50/p95
  over ``--latency-queries`` dev questions; at 1x all dev questions, scored (quality).

Results merge by size into ``benchmarks/results/scale.json`` (a size run again replaces its
entry); ``benchmarks/make_table.py`` renders them into docs/benchmarks.md. Build figures are
also kept in ``WORK/build-Nx.json``: ``--probe-only`` probes the indexes already in ``WORK``
(built with ``--keep``) again, with another tree's code if ``--code`` names one (the code before
a change, a worktree) into another file (``--out``): before and after on the same indexes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
PLOT = ROOT / "docs" / "scale.png"
BEFORE = RESULTS.with_name("scale-before.json")  # the code before issue 24, same indexes
PROJECT_TO = 1_000_000  # chunks


def _rss_mb(pid: int | str = "self") -> dict[str, float]:
    """Resident memory now and at peak (VmRSS, VmHWM), MB; and of it now, the process's own
    (RssAnon) and pages of mapped files (RssFile: the keyword build and vector copy, which the
    kernel drops under pressure and reads again)."""
    status = Path(f"/proc/{pid}/status").read_text()
    got = {k: int(re.search(rf"^{k}:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]
           for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}
    return {"rss_mb": got["VmRSS"], "peak_mb": got["VmHWM"], "anon_mb": got["RssAnon"],
            "file_mb": got["RssFile"]}


def _du_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# --- the corpus ----------------------------------------------------------------------------


def make_corpus(real: list[dict[str, Any]], size: int, *, seed: int = 13) -> list[dict[str, Any]]:
    """The real records plus (size - 1) x len(real) synthetic ones (deterministic)."""
    from qa.text.sentences import split_sentences

    rng = random.Random(seed)
    sentences = [[r["body"][a:b] for a, b in split_sentences(r["body"])] for r in real]
    days = sorted(r["published_at"][:10] for r in real)
    out = list(real)
    for j in range((size - 1) * len(real)):
        template = real[j % len(real)]
        n = max(3, min(40, len(sentences[j % len(real)])))
        donors = rng.sample(range(len(real)), min(n, len(real)))
        body = " ".join(rng.choice(sentences[d] or [real[d]["title"]]) for d in donors)
        a, b = rng.choice(real)["title"].split(), rng.choice(real)["title"].split()
        title = " ".join(a[: max(1, len(a) // 2)] + b[len(b) // 2 :])
        day = rng.choice(days)
        clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        out.append({"title": title, "body": body, "source": template["source"],
                    "published_at": f"{day}T{clock}+00:00", "author": "",
                    "url": f"https://synthetic.invalid/{size}x/{j}"})
    return out


class SyntheticEmbedder:
    """Vectors without the model: a known text's real vector, else a real chunk's vector
    perturbed by Gaussian noise (norm ``sigma``; cosine to it about 0.9), chosen and drawn from
    the text's hash. Questions are embedded by the real model."""

    def __init__(self, real: Any, known: dict[str, np.ndarray], sigma: float = 0.5) -> None:
        self.real, self.known, self.sigma = real, known, sigma
        self.pool = np.stack(list(known.values()))
        self.info = real.info

    def get_text_embedding_batch(self, texts: list[str], **_options: Any) -> list[list[float]]:
        out = []
        for text in texts:
            vector = self.known.get(text)
            if vector is None:
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(),
                                      "little")
                rng = np.random.default_rng(seed)
                base = self.pool[rng.integers(len(self.pool))]
                vector = base + self.sigma * rng.standard_normal(len(base)) / len(base) ** 0.5
                vector = vector / np.linalg.norm(vector)
            out.append(np.asarray(vector, dtype=np.float32).tolist())
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _Timed:
    """Sums the seconds spent embedding passages."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.seconds = inner, 0.0
        self.info = inner.info

    def get_text_embedding_batch(self, texts: list[str], **options: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.get_text_embedding_batch(texts, **options)
        finally:
            self.seconds += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


# --- the steps, each run in its own process ---------------------------------------------------


def build(args: argparse.Namespace) -> dict[str, Any]:
    """Index ``args.corpus_file`` from scratch into ``args.index``; figures as a dict."""
    from qa.config import Settings
    from qa.embedding.embed import embedder_for
    from qa.store.build import build_index
    from qa.store.index import ArticleIndex

    settings = Settings.load(index_dir=args.index, progress=False)
    embedder = embedder_for(settings)
    vectors = "computed"
    if args.known:
        known_settings = Settings.load(index_dir=args.known, progress=False)
        known = ArticleIndex(known_settings, embedder=embedder)
        chunks = known.chunks()
        found = known.passages([c.id for c in chunks], vectors=True, texts=False)
        texts = {c.embed_text(): found[c.id][1] for c in chunks if c.id in found}
        embedder = SyntheticEmbedder(embedder, texts)
        vectors = "synthetic (real chunks: real vectors; others: a real vector + noise)"
    embedder.get_text_embedding_batch(["warm up"])  # the model load stays out of the time
    timed = _Timed(embedder)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    report = build_index(args.corpus_file, settings, index=ArticleIndex(settings, embedder=timed))
    seconds = time.perf_counter() - started
    index = ArticleIndex(settings, embedder=embedder)
    state = index.state()
    return {"articles": report.added, "chunks": state.count, "vectors": vectors,
            "build_s": seconds, "embed_s": timed.seconds, "load_before": load,
            "load_after": os.getloadavg()[0], "build_peak_mb": _rss_mb()["peak_mb"],
            "disk_mb": _du_mb(args.index), "keyword_mb": _du_mb(index.keyword_root)}


def probe(args: argparse.Namespace) -> dict[str, Any]:
    """A fresh process: start to first retrieval, memory, latency (and quality)."""
    from qa.config import Settings
    from qa.faces.metrics import NULL_TYPE, evaluate_retrieval, load_queries, percentile
    from qa.service import QAService

    settings = Settings.load(index_dir=args.index, chroma_url=args.chroma_url, progress=False)
    service = QAService(settings)
    queries = load_queries(args.queries)
    texts = [q.text for q in queries if q.question_type != NULL_TYPE and q.facts]
    service.retrieve(texts[0])
    out: dict[str, Any] = {"first_retrieval_s": time.time() - args.t0, **{
        f"first_{k}": v for k, v in _rss_mb().items()}, "load": os.getloadavg()[0]}
    if args.quality:
        report = evaluate_retrieval(
            queries, lambda q: [p.chunk.text for p in service.retrieve(q, top_k=10)])
        out["quality"] = {k: v for k, v in report.items() if k != "per_type"}
        out["p50_ms"], out["p95_ms"] = report["latency_ms"]["p50"], report["latency_ms"]["p95"]
    else:
        times = []
        for text in texts[1 : 1 + args.latency_queries]:
            started = time.perf_counter()
            service.retrieve(text)
            times.append((time.perf_counter() - started) * 1000)
        out["p50_ms"], out["p95_ms"] = percentile(times, 50), percentile(times, 95)
    out.update(_rss_mb())
    out["load_after"] = os.getloadavg()[0]
    return out


CODE = [ROOT]  # the tree whose ``qa`` the child steps import (``--code``)


def _child(step: str, *extra: str) -> dict[str, Any]:
    command = [sys.executable, __file__, step, *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(CODE[0])})
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    from qa.llm.client import free_port

    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path",
                             str(folder), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chroma run did not start")


def run_size(size: int, args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.work
    index = work / f"index-{size}x"
    built = work / f"build-{size}x.json"
    if args.probe_only:
        if not built.is_file() or not index.is_dir():
            raise SystemExit(f"--probe-only: no {index} with its {built}")
        entry: dict[str, Any] = json.loads(built.read_text())
    else:
        corpus_file = work / f"corpus-{size}x.json"
        real = json.loads(args.corpus.read_text(encoding="utf-8"))
        corpus_file.write_text(json.dumps(make_corpus(real, size)), encoding="utf-8")
        if index.exists():
            shutil.rmtree(index)
        known = [] if size <= args.computed_max else ["--known", str(work / "index-1x")]
        print(f"[{size}x] building {corpus_file}", file=sys.stderr, flush=True)
        entry = {"size": size, **_child("build", "--index", str(index),
                                        "--corpus-file", str(corpus_file), *known)}
        built.write_text(json.dumps(entry, indent=1) + "\n")
    entry["code"] = _describe(CODE[0])
    probe_args = ["--index", str(index), "--queries", str(args.queries),
                  "--latency-queries", str(args.latency_queries)] + (
        ["--quality"] if size == 1 else [])
    print(f"[{size}x] {entry['chunks']} chunks; probing (embedded)", file=sys.stderr, flush=True)
    entry["embedded"] = _child("probe", *probe_args, "--t0", repr(time.time()))
    server, url = _server(index)
    try:
        print(f"[{size}x] probing (chroma run)", file=sys.stderr, flush=True)
        entry["server"] = _child("probe", *probe_args, "--chroma-url", url,
                                 "--t0", repr(time.time()))
        entry["server"]["server_rss_mb"] = _rss_mb(server.pid)["rss_mb"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    entry["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if not args.keep and not args.probe_only and size > 1:
        shutil.rmtree(index)
    return entry


def _describe(tree: Path) -> str:
    """The commit a tree is at, and whether it has changes ("" when it is no git tree)."""
    done = subprocess.run(["git", "-C", str(tree), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip()


def start_runs(args: argparse.Namespace) -> None:
    """``--runs`` fresh processes on one existing index (embedded Chroma), each timed from its
    start to its first retrieval; appended to ``benchmarks/results/start-609.json``."""
    out = RESULTS.parent / "start-609.json"
    record = json.loads(out.read_text()) if out.is_file() else {"index": str(args.index),
                                                                  "runs": []}
    for _ in range(args.runs):
        load = os.getloadavg()[0]
        probe = _child("probe", "--index", str(args.index), "--queries", str(args.queries),
                       "--latency-queries", "20", "--t0", repr(time.time()))
        run = {"code": args.label, "first_retrieval_s": probe["first_retrieval_s"],
               "rss_mb": probe["first_rss_mb"], "load": load,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        record["runs"].append(run)
        print(f"first retrieval {run['first_retrieval_s']:.2f} s, RSS {run['rss_mb']:.0f} MB, "
              f"load {load:.2f}", flush=True)
        time.sleep(5)  # let the last process's exit settle before the next start
    out.write_text(json.dumps(record, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", nargs="?", default="run",
                        choices=("run", "build", "probe", "plot", "start"),
                        help="run (default): every size; build and probe are run by it")
    parser.add_argument("--sizes", default="1,10,30", help="corpus multiples, e.g. 1,10,30")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--queries", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/qa-scale"))
    parser.add_argument("--computed-max", type=int, default=1,
                        help="largest size whose vectors the real embedder computes")
    parser.add_argument("--latency-queries", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the indexes above 1x")
    parser.add_argument("--probe-only", action="store_true",
                        help="probe the indexes already in --work (built with --keep)")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the source tree whose qa the probes import (default: this one)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    # the child steps' own arguments
    parser.add_argument("--index", type=Path)
    parser.add_argument("--corpus-file", type=Path)
    parser.add_argument("--known", type=Path)
    parser.add_argument("--chroma-url")
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--t0", type=float)
    parser.add_argument("--runs", type=int, default=3, help="start: fresh processes to time")
    parser.add_argument("--label", default="", help="start: what code and conditions ran")
    args = parser.parse_args()
    step = args.step
    if step == "start":
        if args.index is None or args.queries is None:
            parser.error("start needs --index and --queries")
        start_runs(args)
        return
    if step in ("build", "probe"):
        print(json.dumps(build(args) if step == "build" else probe(args)))
        return
    if step == "plot":
        plot(json.loads(args.out.read_text())["sizes"], PLOT)
        return
    if (args.corpus is None and not args.probe_only) or args.queries is None:
        parser.error("--corpus and --queries are needed")
    CODE[0] = args.code.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"sizes": []}
    for size in sorted(int(s) for s in args.sizes.split(",")):
        entry = run_size(size, args)
        print(format_entry(entry), flush=True)
        results["sizes"] = sorted([e for e in results["sizes"] if e["size"] != size] + [entry],
                                  key=lambda e: e["size"])
        results["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    if args.out == RESULTS:  # the figure shows this code's run (and the "before" beside it)
        plot(results["sizes"], PLOT)


def format_entry(e: dict[str, Any]) -> str:
    """One size's figures as the terminal shows them."""
    lines = [f"== {e['size']}x: {e['articles']} articles, {e['chunks']} chunks, vectors "
             f"{e['vectors']}; {e['disk_mb']:.0f} MB on disk ({e['keyword_mb']:.0f} MB keyword)",
             f"build {e['build_s']:.0f} s (embedding {e['embed_s']:.0f} s)"]
    for mode in ("embedded", "server"):
        p = e[mode]
        lines.append(f"{mode}: first retrieval {p['first_retrieval_s']:.1f} s from process "
                     f"start; RSS {p['rss_mb']:.0f} MB (peak {p['peak_mb']:.0f}); retrieval "
                     f"p50 {p['p50_ms']:.0f} ms, p95 {p['p95_ms']:.0f} ms; load {p['load']:.2f}"
                     + (f"; server RSS {p['server_rss_mb']:.0f} MB" if "server_rss_mb" in p
                        else ""))
    if "quality" in e["embedded"]:
        q = e["embedded"]["quality"]
        lines.append("quality: " + ", ".join(f"{k} {q[k]:.4f}" for k in (
            "hits@4", "hits@10", "mrr@10", "map@10", "fact_recall@10", "all_facts@10")))
    return "\n".join(lines)


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares line (intercept, slope) through the points; slope 0 for one point."""
    if len(xs) < 2:
        return (ys[0] if ys else 0.0), 0.0
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(intercept), float(slope)


FIGURES = [  # (title, unit, (mode, key) per line)
    ("index size on disk", "MB", [("", "disk_mb")]),
    ("qa index time (embedding at the 1x rate)", "s", [("", "index_s")]),
    ("fresh process to first retrieval", "s", [("embedded", "first_retrieval_s"),
                                                ("server", "first_retrieval_s")]),
    ("resident memory", "MB", [("embedded", "first_rss_mb"), ("server", "first_rss_mb"),
                               ("server", "server_rss_mb")]),
    ("retrieval latency", "ms", [("embedded", "p50_ms"), ("embedded", "p95_ms"),
                                 ("server", "p50_ms"), ("server", "p95_ms")]),
]


def value(entry: dict[str, Any], mode: str, key: str) -> float:
    """A figure of one size; ``index_s`` is the build with its embedding at the 1x rate."""
    if key == "index_s":
        return float(entry["index_s"])
    return float((entry[mode] if mode else entry)[key])


def with_projection(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each entry with ``index_s``: its build time, the embedding counted at the 1x build's
    rate when its vectors were synthetic."""
    rate = next((e["chunks"] / e["embed_s"] for e in entries
                 if e["vectors"] == "computed" and e["embed_s"] > 0), None)
    out = []
    for e in entries:
        index_s = e["build_s"] if e["vectors"] == "computed" or rate is None else \
            e["build_s"] - e["embed_s"] + e["chunks"] / rate
        out.append({**e, "index_s": index_s})
    return out


def plot(entries: list[dict[str, Any]], path: Path) -> None:
    """One panel per figure against chunks, measured points and the fitted line to 1M."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = with_projection(entries)
    xs = [float(e["chunks"]) for e in entries]
    fig, axes = plt.subplots(1, len(FIGURES), figsize=(4.2 * len(FIGURES), 3.8))
    for ax, (title, unit, lines) in zip(axes, FIGURES, strict=True):
        for mode, key in lines:
            ys = [value(e, mode, key) for e in entries]
            a, b = fit(xs, ys)
            label = " ".join(x for x in (mode, key.replace("_", " ")) if x)
            dots = ax.plot(xs, ys, "o-", label=label)[0]
            ax.plot([xs[-1], PROJECT_TO], [a + b * xs[-1], a + b * PROJECT_TO], "--",
                    color=dots.get_color())
            ax.annotate(f"{a + b * PROJECT_TO:,.0f}", (PROJECT_TO, a + b * PROJECT_TO),
                        fontsize=7, ha="right", va="bottom", color=dots.get_color())
        if unit == "ms" and BEFORE.is_file():  # issue 24: the code before, same indexes
            old = json.loads(BEFORE.read_text())["sizes"]
            for mode in ("embedded", "server"):
                ax.plot([e["chunks"] for e in old], [e[mode]["p50_ms"] for e in old], "x:",
                        color="grey", label=f"before: {mode} p50")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("chunks (dashed: linear fit to 1M)", fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
