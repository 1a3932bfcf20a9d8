"""A story written for the timeline tests: Vantor Group's takeover of Norrland Steel, in 12
dated articles from three outlets (several events reported by two or three of them, one
repeated in a later article), and one off-topic article on a day inside the story.

``EVENTS`` are what a correct timeline holds: each event's day, a phrase its line or quotes
hold, and every outlet that reported it."""

from __future__ import annotations

import json
from pathlib import Path

TOPIC = "Vantor Group takeover of Norrland Steel"
HERALD, WIRE, LEDGER = "Baltic Herald", "Nordic Wire", "The Ledger"

# (file, outlet, published day, title, body)
ARTICLES = [
    ("herald-0304", HERALD, "2024-03-04", "Vantor Group bids for Norrland Steel",
     "Vantor Group made an offer of 2.1 billion euros for Norrland Steel on Monday, the largest "
     "bid for a Nordic steelmaker in a decade. The Swedish mill has struggled with high energy "
     "prices since 2022. Analysts in Stockholm said the price looked low."),
    ("wire-0305", WIRE, "2024-03-05", "Steel bid surprises market",
     "Norrland Steel received a 2.1 billion euro takeover offer from Vantor Group on Monday, "
     "the two companies confirmed. Shares in the mill rose 18 percent in early trading. "
     "Traders had not expected a bid before the summer."),
    ("ledger-0307", LEDGER, "2024-03-07", "Board turns down Vantor",
     "The board of Norrland Steel rejected the Vantor Group takeover bid on Thursday, saying "
     "2.1 billion euros undervalued the company. The chairman, Lena Ekholm, wrote to "
     "shareholders that the mill's order book was full until 2026."),
    ("herald-0312", HERALD, "2024-03-12", "Vantor raises its offer",
     "Vantor Group raised its offer for Norrland Steel to 2.6 billion euros on Tuesday, after "
     "its first bid was rejected. The new price values each share at 41 euros. Vantor's chief "
     "executive said the offer was final."),
    ("ledger-0313", LEDGER, "2024-03-13", "A higher bid for the northern mill",
     "A sweetened bid of 2.6 billion euros for Norrland Steel was tabled by Vantor Group on "
     "Tuesday, a rise of almost a quarter. Investors welcomed the move. Trading in the shares "
     "was briefly halted."),
    ("ledger-0314", LEDGER, "2024-03-14", "Record crowd at the city marathon",
     "A record crowd of 40,000 runners took part in the city marathon on Thursday, organisers "
     "said. The winner, a 24-year-old nurse from Uppsala, finished in two hours and eight "
     "minutes. Road closures will be lifted by the evening."),
    ("wire-0315", WIRE, "2024-03-15", "Union demands job guarantees",
     "The steelworkers' union demanded guarantees for all 4,000 jobs at Norrland Steel before "
     "any sale to Vantor Group, its leader said on Friday. Members will meet next week. The "
     "union represents most of the mill's workers."),
    ("herald-0319", HERALD, "2024-03-19", "Norrland Steel agrees to sale",
     "The board of Norrland Steel accepted Vantor Group's raised offer of 2.6 billion euros on "
     "Tuesday and recommended it to shareholders. Vantor promised to keep both blast furnaces "
     "running for five years."),
    ("wire-0319", WIRE, "2024-03-19", "Deal agreed for steelmaker",
     "Norrland Steel's directors agreed to the 2.6 billion euro sale to Vantor Group on "
     "Tuesday, ending two weeks of resistance. The deal still needs shareholder and regulatory "
     "approval."),
    ("ledger-0320", LEDGER, "2024-03-20", "Mill board backs takeover",
     "Norrland Steel's board backed the Vantor Group takeover at 2.6 billion euros on "
     "Tuesday, reversing its earlier stance. Lena Ekholm said the new price reflected the "
     "mill's value."),
    ("ledger-0326", LEDGER, "2024-03-26", "Regulator to examine steel deal",
     "The competition authority opened an in-depth investigation into Vantor Group's purchase "
     "of Norrland Steel on Tuesday, citing concerns about prices for specialty steel. A "
     "decision is due within 90 working days."),
    ("wire-0402", WIRE, "2024-04-02", "Shareholders approve steel sale",
     "Shareholders of Norrland Steel approved the takeover by Vantor Group at an extraordinary "
     "meeting on Tuesday, with 92 percent of votes in favour. Only a few small investors "
     "objected."),
    ("herald-0403", HERALD, "2024-04-03", "What comes next for Norrland Steel",
     "Norrland Steel's shareholders voted on Tuesday to approve the Vantor Group takeover, "
     "with 92 percent in favour at the extraordinary meeting. The competition authority's "
     "review continues. Workers in Luleå said they were relieved."),
]
OFF_TOPIC = "ledger-0314"

# (day, a phrase the event's line holds, every outlet that reported it)
EVENTS = [
    ("2024-03-04", "2.1 billion", {HERALD, WIRE}),
    ("2024-03-07", "rejected", {LEDGER}),
    ("2024-03-12", "2.6 billion", {HERALD, LEDGER}),
    ("2024-03-15", "guarantees", {WIRE}),
    ("2024-03-19", "2.6 billion", {HERALD, WIRE, LEDGER}),
    ("2024-03-26", "investigation", {LEDGER}),
    ("2024-04-02", "92 percent", {WIRE, HERALD}),
]


def write_story(folder: Path) -> dict[str, str]:
    """Write each article as a JSON file in ``folder``; returns each file name's body."""
    folder.mkdir(parents=True, exist_ok=True)
    bodies = {}
    for name, outlet, day, title, body in ARTICLES:
        record = {"title": title, "body": body, "source": outlet,
                  "published_at": f"{day}T08:00:00", "url": f"https://news.example/{name}"}
        (folder / f"{name}.json").write_text(json.dumps(record), encoding="utf-8")
        bodies[f"{name}.json"] = body
    return bodies
