"""One server, two faces: the chat window (``qa.faces.ui``) mounted on the HTTP API
(``qa.faces.http_api``), served from one port by uvicorn, with the folder watcher beside them.

``serve`` is what ``make run``, ``python app.py`` and ``qa serve`` start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI
from gradio.exceptions import ServerFailedToStartError
from gradio.http_server import Server

from qa.config import Settings
from qa.errors import ConfigError
from qa.faces.http_api import Gate, build_api
from qa.faces.library import library_dir, read_origin, stage_uploads
from qa.faces.render import CSS, HEAD
from qa.faces.timeline_view import CSS as TIMELINE_CSS
from qa.faces.ui import ANSWERING, build_app
from qa.models import IndexReport
from qa.service import QAService


def _auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ConfigError("QA_UI_AUTH must look like user:password")
    return user, password


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def launch(app: gr.Blocks, settings: Settings, *, api: FastAPI | None = None) -> str:
    """Queue events (one at a time unless an event says otherwise), mount the chat window at
    ``/`` of ``api`` (the HTTP API, ``qa.faces.http_api``; a bare app when None) and serve both
    from one port in the background; return the URL. ``ConfigError`` when the port is taken,
    or when the address is beyond loopback and neither QA_API_KEYS nor QA_UI_AUTH guards it."""
    if settings.ui_host not in LOOPBACK and not (settings.api_keys or settings.ui_auth):
        raise ConfigError(f"will not serve on {settings.ui_host} with no QA_API_KEYS or "
                          "QA_UI_AUTH: anyone who can reach it could use it (set one, or "
                          "QA_UI_HOST=127.0.0.1)")
    app.queue(default_concurrency_limit=1)
    root = gr.mount_gradio_app(
        api or FastAPI(), app, path="/", server_name=settings.ui_host,
        server_port=settings.ui_port, auth=_auth(settings.ui_auth), show_error=True,
        css=CSS + TIMELINE_CSS,
        head=HEAD, footer_links=["api"], theme=gr.themes.Soft(primary_hue="blue"))
    server = Server(uvicorn.Config(root, host=settings.ui_host, port=settings.ui_port,
                                   log_level="warning"))
    try:
        server.run_in_thread()
    except (OSError, ServerFailedToStartError) as exc:
        raise ConfigError(f"cannot serve on {settings.ui_host}:{settings.ui_port}: "
                          f"{str(exc).split('. ')[0]} (QA_UI_HOST, QA_UI_PORT)") from None
    # Blocks.close() and block_thread() stop and wait for the server they find here.
    app.server, app.is_running = server, True
    host = "127.0.0.1" if settings.ui_host in ("0.0.0.0", "::") else settings.ui_host
    app.local_url = f"http://{host}:{settings.ui_port}/"
    return str(app.local_url)


def _say(text: str) -> None:
    print(f"article-qa: {text}", flush=True)


def keep_in_sync(service: QAService, settings: Settings, stop: threading.Event, *,
                 say: Callable[[str], None] = _say) -> threading.Thread:
    """``QA_UI_WATCH``: a thread that keeps the index in sync with the folder it was last built
    from (the uploads' origin folder for a library of uploads), following rebuilds from the
    Index tab to another folder, until ``stop`` is set. ``say`` gets one line per event
    ("watching FOLDER for changes", each update's summary)."""

    def follow(source: str) -> None:
        """Watch what the index was built from until it is built from something else."""
        lib = library_dir(settings).resolve()
        uploads = bool(source) and Path(source) == lib
        watched = read_origin(lib) if uploads else source
        if not watched or not Path(watched).exists():
            stop.wait(2)  # nothing to watch yet, or it is gone: look again later
            return
        def restage() -> IndexReport:  # uploads stay; the origin's files are linked afresh
            return service.ingest(stage_uploads([], settings=settings, source=source))

        service.watch(
            watched, stop=stop, moved=lambda: service.built_from() != source,
            rebuild=restage if uploads else None,
            on_report=lambda paths, report: say(f"{len(paths)} changed in {watched}: "
                                                f"{report.summary()}"),
            on_error=lambda exc: say(f"could not re-index {watched}: {exc}"),
            on_ready=lambda: say(f"watching {watched} for changes"))

    def run() -> None:
        while not stop.is_set():
            follow(service.built_from())

    thread = threading.Thread(target=run, name="qa-watch", daemon=True)
    thread.start()
    return thread


def serve(settings: Settings) -> None:
    """Build the service and the app, print the URL, and serve until interrupted."""
    service = QAService(settings)
    stop = threading.Event()
    try:
        gate = Gate(ANSWERING)  # one line for the chat window's and the API's questions
        app = build_app(service, settings, gate)
        url = launch(app, settings, api=build_api(service, settings, gate))
        service.warm_up()  # models load while the page opens, not on the first question
        if settings.ui_watch:
            keep_in_sync(service, settings, stop)
        print(f"article-qa: the chat window is at {url}, the API at {url}v1 and {url}api "
              f"(Ctrl+C stops them)", flush=True)
        app.block_thread()
    finally:
        stop.set()
        service.close()
