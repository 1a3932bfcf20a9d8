"""Real sources for the tests of PDFs, web pages, feeds and watched folders: one news article
as HTML, Chromium to print it to PDF, and a local HTTP server on loopback."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

TITLE = "Harbour council approves dredging plan"
FACT = ("The dredging will cost 48 million euros and is due to finish in March 2026, the harbour "
        "master, Ingrid Solberg, told reporters after the vote.")
PARAGRAPHS = [
    "The harbour council of Vestby voted on Tuesday to dredge the main shipping channel, ending "
    "a dispute with local fishermen that had lasted almost three years.",
    f"{FACT} She said the deeper channel would let container ships of up to 14,000 tonnes call "
    "at the port for the first time.",
    "Fishermen had warned that the work would disturb spawning grounds for cod in the inner "
    "bay. The council agreed to pause dredging every year between February and April, when the "
    "fish gather to spawn.",
    "An environmental assessment commissioned by the council found that silt from the channel "
    "would settle within two kilometres of the work site. Critics said the assessment ignored "
    "the effect of winter storms, which can carry silt much further.",
    "Opposition councillors said the cost had nearly doubled since the plan was first proposed "
    "in 2021. The council's finance committee will publish a revised budget next month.",
    "Work on the first section of the channel is expected to start in September, once the "
    "contract has been signed with a Dutch dredging company.",
]
HEADER = "The Vestby Tidende · Local news"
OTHER = {  # more stories for the feeds: path -> (title, first paragraph)
    "bridge": ("Springfield council approves river bridge",
               "The Springfield city council voted seven to two on Thursday to build a new "
               "bridge over the river, ending a debate that had lasted three years."),
    "school": ("New school opens in Northfield",
               "A new primary school for 420 pupils opened in Northfield on Monday, two years "
               "after the old building was closed because of damp."),
    "ferry": ("Ferry timetable cut for winter",
              "The island ferry will sail four times a day instead of six from November, the "
              "operator said, citing falling passenger numbers."),
}


def article_html(*, title: str = TITLE, paragraphs: list[str] | None = None, columns: int = 1,
                 headline: bool = True, dateline: str = "Published April 21, 2023",
                 site: str = "") -> str:
    """The article as a web page: headline, dateline, paragraphs (in CSS columns if asked)."""
    paras = PARAGRAPHS if paragraphs is None else paragraphs
    cols = f".body {{ column-count: {columns}; column-gap: 28px; }}" if columns > 1 else ""
    meta = f'<meta property="og:site_name" content="{site}">' if site else ""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>{meta}"
            f"<style>body {{ font: 12pt serif; margin: 0 }} h1 {{ font-size: 26pt }} {cols}"
            f"</style></head><body><article>{f'<h1>{title}</h1>' if headline else ''}"
            f"{f'<p>{dateline}</p>' if dateline else ''}<div class=body>"
            + "".join(f"<p>{p}</p>" for p in paras) + "</div></article></body></html>")


@contextmanager
def pdf_printer() -> Iterator[Callable[..., Path]]:
    """``print_pdf(html, path, header=True)``: Chromium prints the page to an A6 PDF, with a
    running header (``HEADER``) and "Page n of m" footers when ``header``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()

        def print_pdf(html: str, path: Path, *, header: bool = True) -> Path:
            page.set_content(html)
            small = "font-size:8px;width:100%;text-align:center"
            page.pdf(path=str(path), format="A6", display_header_footer=header,
                     header_template=f'<div style="{small}">{HEADER}</div>',
                     footer_template=f'<div style="{small}">Page <span class=pageNumber></span>'
                                     ' of <span class=totalPages></span></div>',
                     margin={"top": "1.5cm", "bottom": "1.5cm", "left": "1.2cm",
                             "right": "1.2cm"})
            return path

        try:
            yield print_pdf
        finally:
            browser.close()


# --- a web server on loopback ----------------------------------------------------------------


@dataclass
class Route:
    """What the server sends for a path; an ETag (from the body) lets clients ask "changed?"."""

    body: bytes
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering


class Site:
    """A ``ThreadingHTTPServer`` on 127.0.0.1: ``routes`` may change between requests, and
    ``log`` records each request as (path, Host header, If-None-Match header)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str, str]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                site.log.append((self.path, self.headers.get("Host", ""),
                                 self.headers.get("If-None-Match", "")))
                route = site.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                time.sleep(route.delay)
                etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                if route.status == 200 and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(route.body)))
                if route.status == 200:
                    self.send_header("ETag", etag)
                for key, value in route.headers.items():
                    self.send_header(key, value.replace("{base}", site.base))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False  # a slow answer's thread may still sleep at shutdown

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the timeout test) closed its socket

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page(self, path: str, html: str) -> str:
        self.routes[path] = Route(html.encode())
        return self.base + path

    def paths(self) -> list[str]:
        """The paths requested since the log was last cleared, in order."""
        return [p for p, _host, _etag in self.log]
