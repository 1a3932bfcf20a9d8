"""Two questions at once through the chat app's ``/ask`` API, against each asked alone.

Serves the app over an index of the seed article (with the local model), asks question A alone,
question B alone, then both at the same moment from two threads, ``--rounds`` times, and prints
each question's time to its evidence event and to its answer. Both at once should each finish
within about the sum of their single times (the model writes one answer at a time); far more
means the query embedding and the model are fighting over the cores. Run it on an idle machine.

    .venv/bin/python benchmarks/concurrent_answers.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from gradio_client import Client  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.faces.server import launch  # noqa: E402
from qa.faces.ui import build_app  # noqa: E402
from qa.service import QAService  # noqa: E402

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seed" / \
    "nato-ukraine-stoltenberg.txt"
QUESTIONS = ("How much military aid have NATO allies delivered to Ukraine?",
             "Which city did Stoltenberg visit that saw Russian atrocities?")


def ask(url: str, question: str, out: dict[str, float]) -> None:
    """Time one /ask call: its evidence event and its answer, in seconds from the call."""
    client = Client(url, verbose=False)
    started = time.perf_counter()
    job = client.submit(question, api_name="/ask")
    while not job.done():
        if "evidence" not in out and job.outputs():
            out["evidence"] = time.perf_counter() - started
        time.sleep(0.02)
    job.result()
    out["total"] = time.perf_counter() - started
    out.setdefault("evidence", out["total"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        folder.mkdir()
        shutil.copy(SEED, folder / SEED.name)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        settings = Settings.load(index_dir=Path(tmp) / "index", ui_port=port, progress=False)
        service = QAService(settings)
        service.ingest(folder)
        app = build_app(service, settings)
        url = launch(app, settings)
        service.warm_up().join()
        ask(url, "Who is the NATO Secretary General?", {})  # the model loads here
        alone: dict[str, list[float]] = {q: [] for q in QUESTIONS}
        together: dict[str, list[dict[str, float]]] = {q: [] for q in QUESTIONS}
        for _ in range(args.rounds):
            for q in QUESTIONS:
                out: dict[str, float] = {}
                ask(url, q, out)
                alone[q].append(out["total"])
            outs = [{} for _q in QUESTIONS]
            threads = [threading.Thread(target=ask, args=(url, q, o))
                       for q, o in zip(QUESTIONS, outs, strict=True)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for q, o in zip(QUESTIONS, outs, strict=True):
                together[q].append(o)
        app.close()
        service.close()
    single = {q: statistics.median(v) for q, v in alone.items()}
    budget = sum(single.values())
    print(f"\n{args.rounds} rounds; medians in seconds")
    for q in QUESTIONS:
        both = together[q]
        print(f"alone {single[q]:6.1f}  together: evidence "
              f"{statistics.median(o['evidence'] for o in both):5.2f}, answer "
              f"{statistics.median(o['total'] for o in both):6.1f}  ({q[:50]})")
    worst = max(o["total"] for v in together.values() for o in v)
    print(f"sum of single times {budget:.1f}; slowest answer together {worst:.1f} "
          f"({worst / budget:.2f}x the sum)")


if __name__ == "__main__":
    main()
