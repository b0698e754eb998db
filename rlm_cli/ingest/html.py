"""HTML reader: the main text of a page (trafilatura), title and headings kept, a span per section.

- Decoding: BOM, then a `<meta charset>` / `http-equiv` declaration in the first 4 KB, then the text
  reader's detection (UTF-8, then charset-normalizer).
- Web pages: trafilatura extracts the main text (boilerplate such as menus, footers and cookie
  banners dropped; tables, lists and headings kept, as Markdown). When it finds nothing, or keeps
  more than KEEP_FULL of the page anyway (a document with little boilerplate, where it tends to
  drop headings), or the page is over MAX_EXTRACT_CHARS, the whole page is converted (`full_text`).
- Books and mail bodies use `full_text` directly: every visible element, in order.
- The text starts with `# Title` (from <title>, unless the first heading already says it);
  headings are `#`..`######` lines, and each heading starts a span labelled `§ Heading`.
"""
from __future__ import annotations

import re

from .base import Parsed, ReadError, clean_label

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_HEADING = re.compile(r"^(#{1,6}) +(\S.*?)\s*#*\s*$", re.M)
_SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "button", "select"}
_BLOCK = {"p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "blockquote", "figure",
          "figcaption", "form", "fieldset", "address", "details", "summary", "dl", "dt", "dd", "ul", "ol", "table",
          "hr", "center", "body", "html"}
MAX_HTML_BYTES = 200_000_000
MAX_EXTRACT_CHARS = 5_000_000  # bigger pages are documents (books, dumps), not web pages: full text, fast
KEEP_FULL = 0.85  # if trafilatura keeps more than this share of the full text, keep the full text


def decode_html(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    import codecs

    from .text import BinaryInput, decode_bytes, normalize_newlines

    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return normalize_newlines(data[len(bom):].decode(enc, "replace"))
    m = _META_CHARSET.search(data[:4096])
    if m:
        try:
            enc = codecs.lookup(m.group(1).decode("ascii")).name
            if enc not in ("utf-16-le", "utf-16-be", "utf-16"):  # a UTF-16 page cannot declare it in ASCII
                return normalize_newlines(data.decode(enc, "replace"))
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return decode_bytes(data)[0]
    except BinaryInput as e:
        raise ReadError(f"binary file ({e}), not HTML") from None


def parse_tree(html: str):
    import lxml.html
    from lxml import etree

    html = _XML_DECL.sub("", html, count=1).replace("\x00", "")
    if not html.strip():
        raise ReadError("empty HTML document")
    try:
        return lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError) as e:
        raise ReadError(f"damaged HTML ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None


def page_title(tree) -> str:
    t = tree.find(".//title")
    return clean_label(t.text_content(), 200) if t is not None else ""


# ------------------------------------------------------------------------------ full text
def full_text(tree) -> str:
    """Every visible element of `tree` in document order, as light Markdown."""
    out: list[str] = []
    body = tree.find(".//body")
    _walk(body if body is not None else tree, out, [])
    return _tidy("".join(out))


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n[ \t]+(?=[^ \t-])", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return re.sub(r"(?m)^(\|.*\|)\n\n(?=\|)", r"\1\n", text).strip("\n")  # table rows stay together


def _nl(out: list[str], n: int = 1) -> None:
    """End the output with at least n newlines (a line break, or a blank line for n=2)."""
    tail = "".join(out[-3:])
    have = len(tail) - len(tail.rstrip("\n"))
    if out and have < n:
        out.append("\n" * (n - have))


def _walk(el, out: list[str], lists: list[str]) -> None:
    tag = el.tag.lower() if isinstance(el.tag, str) else ""
    if not tag or tag in _SKIP:  # comments, processing instructions, invisible elements
        if el.tail:
            out.append(_ws(el.tail))
        return
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        text = " ".join(el.text_content().split())
        if text:
            _nl(out, 2)
            out.append(f"{'#' * int(tag[1])} {text}\n\n")
    elif tag == "br":
        out.append("\n")
    elif tag == "pre":
        _nl(out, 2)
        out.append(el.text_content().strip("\n") + "\n\n")
    elif tag == "tr":
        cells = [" ".join(c.text_content().split()) for c in el if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
        _nl(out)
        out.append("| " + " | ".join(cells) + " |\n")
    elif tag == "li":
        _nl(out)
        out.append("  " * max(len(lists) - 1, 0) + ("1. " if lists and lists[-1] == "ol" else "- "))
        _children(el, out, lists)
        _nl(out)
    else:
        block = tag in _BLOCK
        if block:
            _nl(out, 2)
        if tag in ("ul", "ol"):
            lists.append(tag)
        _children(el, out, lists)
        if tag in ("ul", "ol"):
            lists.pop()
        if block:
            _nl(out, 2)
        elif tag in ("td", "th"):
            out.append(" ")
    if el.tail:
        out.append(_ws(el.tail))


def _children(el, out, lists) -> None:
    if el.text:
        out.append(_ws(el.text))
    for child in el:
        _walk(child, out, lists)


def _ws(s: str) -> str:
    return re.sub(r"\s+", " ", s)


# ------------------------------------------------------------------------------ main text
def main_text(tree) -> str | None:
    """trafilatura's main-content extraction (its XML, turned into light Markdown); None if nothing."""
    import trafilatura
    from lxml import etree

    try:
        xml = trafilatura.extract(tree, output_format="xml", include_tables=True, include_comments=False,
                                  include_links=False, include_images=False, include_formatting=False,
                                  favor_recall=True, deduplicate=False, with_metadata=False)
        if not xml:
            return None
        root = etree.fromstring(xml.encode("utf-8"))
    except Exception:  # an extractor bug on one odd page must not fail the run: fall back to full text
        return None
    main = root.find("main")
    out: list[str] = []
    for el in (main if main is not None else root):
        _xml_block(el, out)
    text = _tidy("".join(out))
    return text or None


def _xml_block(el, out: list[str], depth: int = 0) -> None:
    """trafilatura XML: head(rend=hN), p, list/item, table/row/cell, quote, code, lb."""
    tag = el.tag if isinstance(el.tag, str) else ""
    text = lambda e: " ".join("".join(e.itertext()).split())  # noqa: E731
    if tag == "head":
        level = (el.get("rend") or "h2")[-1:]
        _nl(out, 2)
        out.append(f"{'#' * (int(level) if level.isdigit() else 2)} {text(el)}\n\n")
    elif tag == "list":
        _nl(out)
        for item in el:
            out.append("  " * depth + ("1. " if el.get("rend") == "ol" else "- ") + text(item) + "\n")
        _nl(out, 2)
    elif tag == "table":
        _nl(out)
        for row in el.iter("row"):
            out.append("| " + " | ".join(text(c) for c in row.iter("cell")) + " |\n")
        _nl(out, 2)
    elif tag == "code":
        _nl(out, 2)
        out.append("".join(el.itertext()).strip("\n") + "\n\n")
    elif tag == "quote":
        _nl(out, 2)
        out.append("> " + text(el) + "\n\n")
    elif tag:
        _nl(out, 2)
        out.append("\n".join(" ".join(part.split()) for part in _split_lb(el)) + "\n\n")


def _split_lb(el) -> list[str]:
    parts, cur = [], [el.text or ""]
    for child in el:
        if child.tag == "lb":
            parts.append("".join(cur))
            cur = [child.tail or ""]
        else:
            cur.append("".join(child.itertext()) + (child.tail or ""))
    parts.append("".join(cur))
    return [p for p in parts if p.strip()] or [""]


def sections(text: str) -> list[tuple]:
    """One span per heading: (n, start, end, '§ Heading'); text before the first heading is '§ (top)'."""
    spans: list[tuple] = []
    heads = [(m.start(), clean_label(m.group(2))) for m in _HEADING.finditer(text)]
    if not heads or heads[0][0] > 0 and text[: heads[0][0]].strip():
        heads.insert(0, (0, "(top)"))
    for i, (start, label) in enumerate(heads):
        end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
        spans.append((i + 1, start, end, f"§ {label}", 0))
    return spans


def to_text(data: bytes | str, *, extract_main: bool = True) -> tuple[str, str]:
    """(text, title) of an HTML document. Raises ReadError."""
    if isinstance(data, (bytes, bytearray)) and len(data) > MAX_HTML_BYTES:
        raise ReadError(f"HTML document larger than {MAX_HTML_BYTES // 1_000_000} MB")
    html = decode_html(data)
    tree = parse_tree(html)
    title = page_title(tree)
    text = full_text(tree)
    if extract_main and len(html) <= MAX_EXTRACT_CHARS:
        main = main_text(parse_tree(html))  # trafilatura changes the tree it is given
        if main is not None and len(main) < KEEP_FULL * len(text):
            text = main  # it dropped real boilerplate; otherwise the full text keeps more structure
    text = text.strip("\n")
    if title:
        first = _HEADING.match(text)
        if not (first and first.group(2).strip().lower() == title.lower()):
            text = f"# {title}\n\n{text}" if text else f"# {title}"
    return text, title


def read_html(source, *, extract_main: bool = True) -> Parsed:
    """Read an HTML file (a path) or a downloaded page (bytes)."""
    data = source
    if not isinstance(source, (bytes, bytearray)):
        with open(source, "rb") as fh:
            data = fh.read(MAX_HTML_BYTES + 1)
    text, title = to_text(data, extract_main=extract_main)
    if not text.strip():
        raise ReadError("no text in the HTML document")
    return Parsed(text, "html", sections(text), [], {"title": title} if title else {}, unit="section")
