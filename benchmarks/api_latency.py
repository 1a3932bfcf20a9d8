"""The same questions through the three ways in over HTTP: the chat window's queue (Gradio's
``/ask``), ``POST /api/ask`` and ``POST /v1/chat/completions`` (streamed), then one API and one
chat-window question at once.

Serves the app and the API on one port over the MultiHop-RAG index (``--index``, built from
``corpus.json`` if needed) with the local model, and asks each of the first ``--questions``
non-null dev questions through each path in turn. The local server keeps the last prompt
cached, so a second path asking the same question would skip reading it: before each timed
question an untimed one-token request with the same system turn and another user turn leaves
every path the state a new question meets (system turn cached, the rest not).
Printed per path, medians in seconds from the request: first evidence (the evidence event or
chunk; for ``/api/ask``, which does not stream, the server's ``evidence_seconds``), first token
(the first text; ``first_token_seconds``) and total; then what the API adds over the chat
window's queue. Last, a question through ``/v1`` and another through the chat window together,
against each alone: each should finish within about the sum of the single times (one answer is
written at a time). Run it on an idle machine.

    .venv/bin/python benchmarks/api_latency.py --index /tmp/mh-index --questions 20
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import httpx  # noqa: E402
from gradio_client import Client  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.faces.http_api import Gate, build_api  # noqa: E402
from qa.faces.metrics import NULL_TYPE, load_queries  # noqa: E402
from qa.faces.server import launch  # noqa: E402
from qa.faces.ui import ANSWERING, build_app  # noqa: E402
from qa.service import QAService  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "multihop-rag"


def via_ui(url: str, question: str) -> dict[str, float]:
    """Gradio's ``/ask`` (the chat window's queue): evidence event, first text, answer."""
    client = Client(url, verbose=False)
    started = time.perf_counter()
    out: dict[str, float] = {}
    job = client.submit(question, api_name="/ask")
    while not job.done():
        for event in job.outputs():
            key = "evidence" if event.get("event") == "evidence" else "first_token" \
                if event.get("event") == "text" else ""
            if key and key not in out:
                out[key] = time.perf_counter() - started
        time.sleep(0.01)
    job.result()
    out["total"] = time.perf_counter() - started
    for key in ("evidence", "first_token"):
        out.setdefault(key, out["total"])
    return out


def via_api_ask(url: str, question: str) -> dict[str, float]:
    """``POST /api/ask`` (no stream): the server's own evidence and first-token times."""
    started = time.perf_counter()
    answer = httpx.post(f"{url}api/ask", json={"question": question}, timeout=600).json()
    total = time.perf_counter() - started
    return {"evidence": answer["evidence_seconds"] or total,
            "first_token": answer["first_token_seconds"] or total, "total": total}


def via_v1(url: str, question: str) -> dict[str, float]:
    """``POST /v1/chat/completions`` streamed: the evidence chunk, the first text chunk."""
    started = time.perf_counter()
    out: dict[str, float] = {}
    with httpx.stream("POST", f"{url}v1/chat/completions", timeout=600, json={
            "model": "article-qa", "stream": True,
            "messages": [{"role": "user", "content": question}]}) as response:
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if "evidence" in chunk and "evidence" not in out:
                out["evidence"] = time.perf_counter() - started
            if chunk["choices"][0]["delta"].get("content") and "first_token" not in out:
                out["first_token"] = time.perf_counter() - started
    out["total"] = time.perf_counter() - started
    for key in ("evidence", "first_token"):
        out.setdefault(key, out["total"])
    return out


PATHS = {"chat window queue (/ask)": via_ui, "/api/ask": via_api_ask,
         "/v1/chat/completions (stream)": via_v1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings.load(index_dir=args.index, ui_port=port, progress=False)
    service = QAService(settings)
    service.ingest(SHARED / "corpus.json")
    gate = Gate(ANSWERING)
    app = build_app(service, settings, gate)
    url = launch(app, settings, api=build_api(service, settings, gate))
    service.warm_up().join()
    questions = [q.text for q in load_queries(SHARED / "queries-dev.json", limit=200)
                 if q.question_type != NULL_TYPE][: args.questions]
    try:
        via_v1(url, "Who is the CEO of OpenAI?")  # the model loads here
        filler = [{"role": "system", "content": service.prompts.system.render()},
                  {"role": "user", "content": "Say OK."}]
        times: dict[str, list[dict[str, float]]] = {p: [] for p in PATHS}
        for n, question in enumerate(questions, start=1):
            for path, ask in PATHS.items():
                service.llm.complete(filler, max_tokens=1)
                times[path].append(ask(url, question))
            print(f"[{n}/{len(questions)}] " + "; ".join(
                f"{p}: {times[p][-1]['total']:.1f}s" for p in PATHS), flush=True)
        figures: dict[str, dict[str, float]] = {
            p: {k: round(statistics.median(t[k] for t in rows), 3)
                for k in ("evidence", "first_token", "total")} for p, rows in times.items()}
        base = figures["chat window queue (/ask)"]
        print(f"\n{len(questions)} questions, medians in seconds (evidence / first token / "
              f"total), CPU {os.cpu_count()} cores:")
        for path, f in figures.items():
            added = "; ".join(f"{k} {f[k] - base[k]:+.3f}" for k in f)
            print(f"  {path}: {f['evidence']:.2f} / {f['first_token']:.2f} / {f['total']:.2f}"
                  f"  (vs the chat window: {added})")
        a, b = questions[0], questions[1]
        service.llm.complete(filler, max_tokens=1)
        alone = {"v1": via_v1(url, a)["total"]}
        service.llm.complete(filler, max_tokens=1)
        alone["ui"] = via_ui(url, b)["total"]
        service.llm.complete(filler, max_tokens=1)
        together: dict[str, float] = {}
        threads = [threading.Thread(target=lambda: together.update(v1=via_v1(url, a)["total"])),
                   threading.Thread(target=lambda: together.update(ui=via_ui(url, b)["total"]))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(f"  alone: /v1 {alone['v1']:.1f}s, chat window {alone['ui']:.1f}s (sum "
              f"{sum(alone.values()):.1f}s); together: /v1 {together['v1']:.1f}s, chat window "
              f"{together['ui']:.1f}s")
        if args.out:
            args.out.write_text(json.dumps({"questions": len(questions), "medians": figures,
                                            "alone": alone, "together": together}, indent=1))
    finally:
        app.close()
        service.close()


if __name__ == "__main__":
    main()
