"""Scanned PDF pages: OCR them (the [ocr] extra) or say clearly that their text is missing.

Called by pdf.read_pdf with the text layer read page by page and a flag per page ('' text,
'image' no text but drawn content, 'sparse' a few characters and an image, 'text-unread', 'blank').

- `--ocr auto` OCRs 'image' and 'sparse' pages, `always` every page, `never` none.
- Pages left without text are reported once: `p.2, p.4: no text layer (scanned or image-only
  pages): install the [ocr] extra ...` (or `OCR disabled by --ocr never`).
- A document whose text layer is nearly empty for its page count (fewer than NEAR_EMPTY
  non-space characters per page on average, and at least half of its pages images with little or
  no text: a scan with stray characters, issue 18) gets a warning naming the pages and characters,
  with the way to OCR it.
"""
from __future__ import annotations

from . import ocr
from .base import Parsed

NEAR_EMPTY = 25  # average non-space characters per page below which the text layer is "nearly empty"


def _pages(n_total: int, numbers: list[int]) -> str:
    from .pdf import _page_list

    return _page_list(n_total, numbers)


def _chars(text: str) -> int:
    return len("".join(text.split()))


def _targets(flags: list[str], mode: str) -> list[int]:
    if mode == "never":
        return []
    if mode == "always":
        return [i + 1 for i, f in enumerate(flags) if f != "blank"]
    return [i + 1 for i, f in enumerate(flags) if f in ("image", "sparse")]


def finish(source, password, parsed: Parsed, mode: str, progress) -> Parsed:
    from .pdf import _assemble

    flags = list(parsed.info.pop("flags", None) or [""] * len(parsed.pages))
    scanned = sum(1 for f in flags if f in ("image", "sparse"))  # pages that look like scans
    texts = [parsed.text[s:e] for _, s, e, *_ in parsed.pages]
    engine = parsed.info.get("engine", "pdfium")
    warnings = list(parsed.warnings)
    targets = _targets(flags, mode) if ocr.available() else []
    done: list[int] = []
    if targets:
        if progress is not None:
            progress.finish()  # the text-layer bar is over; the OCR bar starts
        try:
            found = ocr.ocr_pdf_pages(source, password, targets, progress)
        except Exception as e:  # the engine failing must not lose the text layer we have
            found = {}
            warnings.append(f"OCR failed ({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}); text layer kept")
        for n, text in found.items():
            if _chars(text) > _chars(texts[n - 1]) or mode == "always" and text.strip():
                texts[n - 1] = text
                flags[n - 1] = "" if text.strip() else flags[n - 1]
                done.append(n)
    out = _assemble(texts, flags, engine, warnings)
    out.info.pop("flags", None)
    out.info.update({k: v for k, v in parsed.info.items() if k not in ("flags",)})
    if done:
        out.info["ocr_pages"] = len(done)
        out.warnings.append(f"{_pages(len(texts), sorted(done))}: text read by OCR")
    out.warnings.extend(_missing(texts, flags, mode, ocr_tried=bool(targets), scanned=scanned))
    return out


def _why(mode: str) -> str:
    if mode == "never":
        return "OCR disabled by --ocr never"
    if not ocr.available():
        return ocr.HINT
    return "OCR found no text"


def _missing(texts: list[str], flags: list[str], mode: str, ocr_tried: bool, scanned: int) -> list[str]:
    n = len(texts)
    empty = [i + 1 for i, f in enumerate(flags) if f in ("image", "text-unread") and not texts[i].strip()]
    out = []
    if empty:
        out.append(f"{_pages(n, empty)}: no text layer (scanned or image-only pages): {_why(mode)}")
    total = sum(_chars(t) for t in texts)
    if n and 0 < total < NEAR_EMPTY * n and 2 * scanned >= n:
        if ocr_tried:
            hint = "OCR found little text either"
        elif not ocr.available():
            hint = f"to OCR it, {ocr.EXTRA} and use --ocr always"
        else:
            hint = "to OCR it, use --ocr always" if mode != "always" else ""
        out.append(f"text layer nearly empty: {total:,} characters on {n:,} pages (a scanned document?)"
                   + (f"; {hint}" if hint else ""))
    if n and total == 0 and not empty:
        out.append(f"no text on any of the {n:,} pages: {_why(mode)}")
    return out
