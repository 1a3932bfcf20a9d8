"""PDF bytes -> ``Article``: text in reading order, without the page furniture.

pdfminer.six (MIT) finds the text boxes of each page and their fonts; this module only decides
their order and what is furniture. Boxes as wide as the text area (headlines, full-width
paragraphs) split a page into bands, and each band is read column by column, so a two-column
page reads down the left column, then the right. Running headers and footers (the same text,
digits aside, in the top or bottom tenth of at least two pages, or in small type there) and
page numbers are dropped; words hyphenated at a line end are joined, and a paragraph cut by a
column or page break is made whole again. The headline is the largest type near the top of the
first page, else the PDF's Title; the date is a dateline under the headline, else the PDF's
CreationDate.
"""

from __future__ import annotations

import hashlib
import io
import re
import statistics
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

from qa.models import Article
from qa.sources.records import parse_date

NO_TEXT = "no text layer; scanned PDFs are not read"

_BAND = 0.10  # running headers and footers live in the top and bottom tenth of a page
_WIDE = 0.60  # a box this share of the text area's width spans the columns
_HEADLINE = 1.2  # a headline's type is at least this much larger than the body's
_SMALL = 0.8  # a line in the margin band set this much smaller than the body is furniture
_PAGE_NUMBER = re.compile(r"(?:page\s+)?[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?(?:\s*(?:of|/)\s*\d{1,4})?",
                          re.I)
_CID = re.compile(r"\(cid:\d+\)")  # a glyph the font gives no Unicode for
_LINE_HYPHEN = re.compile(r"(\w+)[-\u00ad\u2010]$")
_WORD_START = re.compile(r"[a-zà-ÿ]\w*")
_COMPOUND = re.compile(r"\w+[-\u2010]\w+")
_ENDS_SENTENCE = re.compile(r"[.!?:;…\"'”’)\]]$")
_LABEL = re.compile(r"(?:published|updated|posted|date|dated)(?:\s+on)?\s*:?\s*", re.I)
_JUNK_TITLE = re.compile(r"untitled|document\d*|.*\.(?:docx?|pdf|indd|rtf|txt|html?|odt)", re.I)
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?"
                       r"\s*(?:([Z+-])(\d\d)?'?(\d\d)?)?")


@dataclass
class _Box:
    """A text box of one page: its lines, position (PDF points, origin bottom left) and type."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[str]
    size: float  # median font size of its characters
    chars: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.lines)


@dataclass
class _Extracted:
    """What a PDF's bytes yield, before it is named after its file."""

    title: str
    body: str
    author: str = ""
    published_at: str = ""


def read_pdf(data: bytes, rel: str) -> Article:
    """The article in a PDF file's bytes; ``rel`` is its id and path.

    Raises ``ValueError`` with a one-line reason: no text layer (a scan), password protected,
    or not a readable PDF. Results are cached by the bytes' SHA-256, so a watched folder does
    not re-parse unchanged PDFs on every change.
    """
    key = hashlib.sha256(data).hexdigest()
    got = _CACHE.get(key)
    if got is None:
        got = _extract(data)
        _CACHE[key] = got
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return Article(id=rel, title=got.title or PurePosixPath(rel).stem, body=got.body, path=rel,
                   author=got.author, published_at=got.published_at)


_CACHE: OrderedDict[str, _Extracted] = OrderedDict()
_CACHE_SIZE = 512


def _extract(data: bytes) -> _Extracted:
    from pdfminer.pdfdocument import PDFDocument, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFParser

    try:
        doc = PDFDocument(PDFParser(io.BytesIO(data)))
        info = _info(doc)
        pages = _layout(doc)
    except PDFPasswordIncorrect:
        raise ValueError("is password protected; PDFs that need a password are not read") from None
    except ValueError:
        raise
    except Exception as exc:  # pdfminer raises many kinds (and plain KeyError...) on broken files
        raise ValueError(f"not a readable PDF ({type(exc).__name__}: {exc})"[:200]) from None
    boxes = [b for page in pages for b in page]
    chars = sum(b.chars for b in boxes)
    if not chars:
        raise ValueError(NO_TEXT)
    text = "".join(b.text for b in boxes)
    if len(_CID.findall(text)) * 4 > chars:  # mostly glyphs with no Unicode: unreadable text
        raise ValueError("its fonts map no characters to text (no ToUnicode); it cannot be read")
    kept = _drop_furniture(pages)
    ordered = [b for page in kept for b in _reading_order(page)]
    body_size = _body_size(ordered)
    title, rest = _headline(ordered, body_size)
    paragraphs = _paragraphs(rest)
    published, byline, paragraphs = _dateline(paragraphs)
    author = _clean(info.get("Author")) or byline
    if not title:
        meta = _clean(info.get("Title"))
        meta = re.sub(r"^microsoft (?:word|powerpoint) - ", "", meta, flags=re.I).strip()
        if meta and not _JUNK_TITLE.fullmatch(meta):
            title = meta
        elif paragraphs and len(paragraphs[0]) <= 150 and not paragraphs[0].endswith("."):
            title, paragraphs = paragraphs[0], paragraphs[1:]  # a plain first line, as in .txt
    if not published:
        published = _pdf_date(_clean(info.get("CreationDate")))
    return _Extracted(title=title, body="\n".join(paragraphs), author=author,
                      published_at=published)


# --- reading the file ----------------------------------------------------------------------


def _info(doc: Any) -> dict[str, Any]:
    from pdfminer.pdftypes import resolve1

    info: dict[str, Any] = {}
    for entry in doc.info or ():
        for key, value in (resolve1(entry) or {}).items():
            info.setdefault(str(key), resolve1(value))
    return info


def _clean(value: Any) -> str:
    """A metadata value as text: PDFDocEncoding or UTF-16 bytes decoded, blanks collapsed."""
    from pdfminer.utils import decode_text

    if isinstance(value, bytes):
        value = decode_text(value)
    return " ".join(str(value).replace("\x00", "").split()) if isinstance(value, str) else ""


def _layout(doc: Any) -> list[list[_Box]]:
    """Each page's text boxes, as pdfminer's layout analysis groups characters into them."""
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.layout import LAParams, LTChar, LTTextBox, LTTextLine
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    manager = PDFResourceManager(caching=True)
    device = PDFPageAggregator(manager, laparams=LAParams())
    interpreter = PDFPageInterpreter(manager, device)
    pages: list[list[_Box]] = []
    for number, page in enumerate(PDFPage.create_pages(doc)):
        interpreter.process_page(page)
        layout = device.get_result()
        boxes: list[_Box] = []
        for element in layout:
            if not isinstance(element, LTTextBox):
                continue
            lines, sizes = [], []
            for line in element:
                if isinstance(line, LTTextLine):
                    text = " ".join(line.get_text().split())
                    if text:
                        lines.append(text)
                        sizes += [c.size for c in line if isinstance(c, LTChar)]
            if lines:
                boxes.append(_Box(number, element.x0, element.y0, element.x1, element.y1, lines,
                                  statistics.median(sizes) if sizes else 0.0, len(sizes)))
        pages.append(boxes)
        page_height = float(layout.height)
        for box in boxes:  # positions as shares of the page height, for the margin bands
            box.y0, box.y1 = box.y0 / page_height, box.y1 / page_height
    return pages


# --- what is not the article ---------------------------------------------------------------


def _drop_furniture(pages: list[list[_Box]]) -> list[list[_Box]]:
    """Pages without running headers, footers and page numbers: short lines in the top or
    bottom band that are a page number, repeat on other pages, or are in smaller type than
    the body (the header of a one-page print)."""
    small = _SMALL * _body_size([b for page in pages for b in page])

    def marginal(box: _Box) -> bool:
        return len(box.lines) <= 2 and len(box.text) <= 150 and (
            box.y0 >= 1 - _BAND or box.y1 <= _BAND)

    def key(box: _Box) -> str:
        return re.sub(r"\d+", "#", box.text.lower())

    seen = Counter(k for page in pages for k in {key(b) for b in page if marginal(b)})
    need = max(2, len(pages) // 2)
    return [[b for b in page if not (marginal(b) and (
        _PAGE_NUMBER.fullmatch(b.text) or b.size < small
        or len(pages) > 1 and seen[key(b)] >= need))]
        for page in pages]


# --- reading order -------------------------------------------------------------------------


def _reading_order(boxes: list[_Box]) -> list[_Box]:
    """Boxes as a person reads them: wide boxes top to bottom, and between two of them the
    narrow ones column by column (left to right), each column top to bottom."""
    if len(boxes) < 2:
        return list(boxes)
    left, right = min(b.x0 for b in boxes), max(b.x1 for b in boxes)
    wide = sorted((b for b in boxes if b.x1 - b.x0 >= _WIDE * (right - left)), key=lambda b: -b.y1)
    bands: list[list[_Box]] = [[] for _ in range(len(wide) + 1)]
    for box in boxes:
        if any(box is w for w in wide):
            continue
        above = sum(1 for w in wide if w.y1 >= box.y1)  # wide boxes starting above this one
        bands[above].append(box)
    order = list(_columns(bands[0]))
    for i, w in enumerate(wide):
        order.append(w)
        order += _columns(bands[i + 1])
    return order


def _columns(boxes: list[_Box]) -> list[_Box]:
    """Narrow boxes grouped into columns by overlapping x ranges; columns left to right."""
    columns: list[list[_Box]] = []
    reach = float("-inf")
    for box in sorted(boxes, key=lambda b: b.x0):
        if columns and box.x0 < reach - 1:  # overlaps the current column (1pt of slack)
            columns[-1].append(box)
            reach = max(reach, box.x1)
        else:
            columns.append([box])
            reach = box.x1
    return [b for col in columns for b in sorted(col, key=lambda b: -b.y1)]


# --- text ----------------------------------------------------------------------------------


def _body_size(boxes: list[_Box]) -> float:
    """The type size most characters are set in."""
    sizes = Counter({round(b.size, 1): 0 for b in boxes})
    for b in boxes:
        sizes[round(b.size, 1)] += b.chars
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _headline(boxes: list[_Box], body_size: float) -> tuple[str, list[_Box]]:
    """The largest type among the first boxes of page one, when larger than the body's."""
    first = [b for b in boxes[:4] if b.page == boxes[0].page] if boxes else []
    big = max(first, key=lambda b: b.size, default=None)
    if big is None or big.size < _HEADLINE * body_size or len(big.lines) > 4:
        return "", boxes
    return _join_lines(big.lines, set()), [b for b in boxes if b is not big]


def _paragraphs(boxes: list[_Box]) -> list[str]:
    """One paragraph per box, lines joined; a box that ends mid-sentence and one that goes on
    in lower case (across a column or page break) are one paragraph."""
    compounds = {m.lower() for b in boxes for line in b.lines for m in _COMPOUND.findall(line)}
    out: list[str] = []
    for box in boxes:
        text = _join_lines(box.lines, compounds)
        if out and not _ENDS_SENTENCE.search(out[-1]) and _WORD_START.match(text):
            out[-1] = _join_lines([out[-1], text], compounds)
        else:
            out.append(text)
    return [_CID.sub("", p).strip() for p in out if _CID.sub("", p).strip()]


def _join_lines(lines: list[str], compounds: set[str]) -> str:
    """Lines joined by spaces; a word hyphenated at a line end is joined without its hyphen,
    unless the document spells it with one elsewhere ("well-known")."""
    text = lines[0]
    for line in lines[1:]:
        hyphen, start = _LINE_HYPHEN.search(text), _WORD_START.match(line)
        if hyphen and start:
            compound = f"{hyphen[1]}-{start[0]}".lower()
            text = text[:-1] + ("-" if compound in compounds else "") + line
        elif hyphen and hyphen[1][-1].isdigit() and line[:1].isdigit():
            text += line  # a range broken after its hyphen: "2021-" / "2023"
        else:
            text = f"{text} {line}"
    return text


def _dateline(paragraphs: list[str]) -> tuple[str, str, list[str]]:
    """A short paragraph near the top that is a date ("Published April 21, 2023", or a byline
    and the date: "By Jane Doe | April 21, 2023"): its date, the byline's name, and the
    paragraphs without it."""
    for i, para in enumerate(paragraphs[:4]):
        if len(para) > 80:
            continue
        parts = re.split(r"\s+[|·•—–]\s+|\s*\|\s*", para)
        for part in parts:
            date = parse_date(_LABEL.sub("", part, count=1) if _LABEL.match(part) else part)
            if re.match(r"\d{4}-\d\d-\d\d", date):
                byline = next((p[3:].strip() for p in parts if p.lower().startswith("by ")), "")
                return date, byline, paragraphs[:i] + paragraphs[i + 1 :]
    return "", "", paragraphs


def _pdf_date(raw: str) -> str:
    """A PDF date (``D:20230421093000+02'00'``) as ISO 8601; "" when it is not one."""
    match = _PDF_DATE.match(raw)
    if not match:
        return ""
    year, month, day, hour, minute, second, sign, tz_h, tz_m = match.groups()
    try:
        tz = UTC if sign in (None, "Z") else timezone(
            (1 if sign == "+" else -1) * timedelta(hours=int(tz_h or 0), minutes=int(tz_m or 0)))
        when = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                        int(minute or 0), int(second or 0), tzinfo=tz)
    except ValueError:
        return ""
    return when.isoformat(timespec="seconds") if hour else when.date().isoformat()
