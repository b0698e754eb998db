"""PDF reader: pypdfium2 (PDFium) by default, pypdf as fallback and as an option.

- Pages are joined with PAGE_SEP ("\\n\\f\\n"); each page's span is recorded.
- Empty-password encryption (RC4, AES-128, AES-256) opens transparently; otherwise `password`.
- Pages without text (or with a few stray characters and an image) are OCR'd or reported by
  scan.py; blank pages (no objects at all) are not reported.
- Big PDFs are split across processes (PDFium is not thread-safe) when that is faster.
- pypdf's log records and Python warnings are captured and summarised as one warning line.
"""
from __future__ import annotations

import io
import logging
import unicodedata
import os
import threading
import warnings as _warnings
from contextlib import contextmanager

from .base import NullProgress, Parsed, ReadError

PAGE_SEP = "\n\f\n"
PARALLEL_MIN_PAGES = 150  # below this, process start-up costs more than it saves (measured: bench)
SPARSE_CHARS = 25  # a page with fewer non-space characters than this and an image is a scan


def _clean(text: str) -> str:
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # PDFium marks soft hyphens / unknown chars with these; drop the noise.
    if "\x02" in text or "\ufffe" in text:
        text = text.replace("\x02", "").replace("\ufffe", "")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)  # "e" + U+0301 -> "é", so searches match
    return text.strip("\n")


def _page_list(n: int, numbers: list[int]) -> str:
    shown = ", ".join(f"p.{k}" for k in numbers[:20])
    if len(numbers) > 20:
        shown += f", ... ({len(numbers):,} of {n:,} pages)"
    return shown


def _assemble(texts: list[str], flags: list[str], engine: str, extra_warnings: list[str]) -> Parsed:
    """texts[i]: page i+1 text; flags[i]: '' (text), 'image' (no text, draws something), 'sparse'
    (a few characters and an image: a scan with stray text), 'text-unread', 'blank'. Warnings about
    pages without text are added by scan.finish once OCR has had its chance."""
    parts, pages, pos = [], [], 0
    for i, t in enumerate(texts):
        if i:
            parts.append(PAGE_SEP)
            pos += len(PAGE_SEP)
        parts.append(t)
        pages.append((i + 1, pos, pos + len(t)))
        pos += len(t)
    return Parsed("".join(parts), "pdf", pages, list(extra_warnings),
                  {"engine": engine, "pages": len(texts), "flags": list(flags)})


# ----------------------------------------------------------------------------------- pdfium
def _pdfium_open(source, password):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(source, password=password or None)
    except pdfium.PdfiumError as e:
        code = getattr(e, "err_code", None)
        import pypdfium2.raw as raw

        if code == raw.FPDF_ERR_PASSWORD:
            raise ReadError("wrong password for encrypted PDF" if password else "encrypted PDF: needs --password") from None
        if code == raw.FPDF_ERR_SECURITY:
            raise ReadError("unsupported PDF security handler") from None
        if code == raw.FPDF_ERR_FILE:
            raise ReadError("cannot open file") from None
        raise ReadError("damaged PDF (invalid structure)") from None


def _pdfium_pages(doc, start: int, stop: int, advance=None) -> list[tuple[str, str]]:
    import pypdfium2.raw as raw

    out = []
    for i in range(start, stop):
        page = doc[i]
        try:
            tp = page.get_textpage()
            try:
                text = _clean(tp.get_text_range())
            finally:
                tp.close()
            flag = ""
            if not text.strip():
                text = ""
                flag = "blank"
                if raw.FPDFPage_CountObjects(page) > 0:
                    flag = "image"  # drawn content but no text: a scan or a picture
                    if any(True for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_TEXT], max_depth=2)):
                        flag = "text-unread"  # text objects PDFium could not map (e.g. vertical CJK)
            elif _sparse(text) and any(True for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=2)):
                flag = "sparse"
        except Exception:  # a broken page must not sink the document
            text, flag = "", "image"
        finally:
            page.close()
        out.append((text, flag))
        if advance:
            advance(1)
    return out


def _sparse(text: str) -> bool:
    return len("".join(text.split())) < SPARSE_CHARS


def _pdfium_worker(path: str, password: str | None, start: int, stop: int) -> list[tuple[str, str]]:
    doc = _pdfium_open(path, password)
    try:
        return _pdfium_pages(doc, start, stop)
    finally:
        doc.close()


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def read_pdfium(source, *, password=None, progress=None, parallel: bool | None = None) -> Parsed:
    progress = progress or NullProgress()
    doc = _pdfium_open(source, password)
    try:
        n = len(doc)
        progress.start(n, "pages", "Reading PDF")
        workers = _workers()
        use_parallel = parallel if parallel is not None else (n >= PARALLEL_MIN_PAGES and workers > 1)
        use_parallel = use_parallel and isinstance(source, (str, os.PathLike)) and workers > 1
        # The pool forks: never while other threads run (e.g. the background litellm import),
        # since a fork can copy a lock another thread holds and deadlock the child.
        use_parallel = use_parallel and threading.active_count() == 1
        if use_parallel:
            results = _parallel(str(source), password, n, workers, progress)
        else:
            results = _pdfium_pages(doc, 0, n, progress.advance)
    finally:
        doc.close()
    parsed = _assemble([t for t, _ in results], [f for _, f in results], "pdfium", [])
    parsed.info["text_unread"] = [i + 1 for i, (_, f) in enumerate(results) if f == "text-unread"]
    return parsed


def _retry_pages_with_pypdf(source, password, parsed: Parsed, numbers: list[int]) -> Parsed:
    """Pages where PDFium saw text objects but extracted nothing: ask pypdf for those pages."""
    from pypdf import PdfReader

    texts = [parsed.text[s:e] for _, s, e in parsed.pages]
    recovered = []
    try:
        with capture_pypdf_noise():
            reader = PdfReader(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source, strict=False)
            if reader.is_encrypted and not reader.decrypt(password or ""):
                return parsed
            for n in numbers:
                t = _clean(reader.pages[n - 1].extract_text() or "")
                if t.strip():
                    texts[n - 1] = t
                    recovered.append(n)
    except Exception:
        return parsed
    if not recovered:
        return parsed
    flags = list(parsed.info.get("flags") or [""] * len(texts))
    for n in recovered:
        flags[n - 1] = ""
    out = _assemble(texts, flags, "pdfium", [])
    out.warnings.append(f"{_page_list(len(texts), recovered)}: text read with pypdf (PDFium extracted none)")
    return out


def _parallel(path, password, n, workers, progress) -> list[tuple[str, str]]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:  # pragma: no cover - non-POSIX
        ctx = multiprocessing.get_context()
    chunks = max(workers * 2, 1)
    size = -(-n // chunks)
    ranges = [(s, min(s + size, n)) for s in range(0, n, size)]
    results: list[list] = [None] * len(ranges)  # type: ignore[list-item]
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
        futs = {ex.submit(_pdfium_worker, path, password, s, e): k for k, (s, e) in enumerate(ranges)}
        from concurrent.futures import as_completed

        for fut in as_completed(futs):
            k = futs[fut]
            results[k] = fut.result()
            progress.advance(ranges[k][1] - ranges[k][0])
    return [r for chunk in results for r in chunk]


# ------------------------------------------------------------------------------------- pypdf
class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        try:
            self.messages.append(record.getMessage())
        except Exception:
            self.messages.append(str(record.msg))


@contextmanager
def capture_pypdf_noise():
    """Swallow pypdf's log records and warnings; yields the list of captured messages."""
    logger = logging.getLogger("pypdf")
    handler = _Capture()
    old_prop, old_level = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    if logger.level == logging.NOTSET or logger.level > logging.WARNING:
        logger.setLevel(logging.WARNING)
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        try:
            yield handler.messages
        finally:
            handler.messages.extend(str(w.message) for w in caught)
            logger.removeHandler(handler)
            logger.propagate, logger.level = old_prop, old_level


def summarise_noise(lib: str, messages: list[str]) -> list[str]:
    if not messages:
        return []
    font = [m for m in messages if "font" in m.lower()]
    other = [m for m in messages if "font" not in m.lower()]
    parts = []
    if font:
        parts.append(f"{len(font):,} font warning" + ("s" if len(font) != 1 else ""))
    if other:
        parts.append(f"{len(other):,} other warning" + ("s" if len(other) != 1 else ""))
    first = messages[0].strip().splitlines()[0][:120] if messages[0].strip() else ""
    return [f"{lib}: {' and '.join(parts)} suppressed" + (f" (first: {first!r})" if first else "")]


def read_pypdf(source, *, password=None, progress=None) -> Parsed:
    progress = progress or NullProgress()
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    texts, flags = [], []
    with capture_pypdf_noise() as noise:
        try:
            reader = PdfReader(source, strict=False)
            if reader.is_encrypted:
                try:
                    ok = reader.decrypt(password or "")
                except DependencyError:
                    raise ReadError("encrypted PDF needs the 'cryptography' package for AES (pip install cryptography)") from None
                if not ok:
                    raise ReadError("wrong password for encrypted PDF" if password else "encrypted PDF: needs --password")
            pages = reader.pages
            n = len(pages)
        except ReadError:
            raise
        except FileNotDecryptedError:
            raise ReadError("encrypted PDF: needs --password") from None
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, AssertionError, RecursionError) as e:
            raise ReadError(f"damaged PDF ({_one_line(e)})") from None
        progress.start(n, "pages", "Reading PDF")
        for i in range(n):
            try:
                page = pages[i]
                text = _clean(page.extract_text() or "")
                flag = ""
                if not text.strip():
                    text, flag = "", "blank"
                    if _pypdf_has_content(page):
                        flag = "image"
                elif _sparse(text) and _pypdf_has_images(page):
                    flag = "sparse"
            except Exception as e:  # one broken page: keep going, say so
                noise.append(f"page {i + 1}: {_one_line(e)}")
                text, flag = "", "image"
            texts.append(text)
            flags.append(flag)
            progress.advance(1)
    return _assemble(texts, flags, "pypdf", summarise_noise("pypdf", noise))


def _pypdf_has_content(page) -> bool:
    try:
        res = page.get("/Resources") or {}
        res = res.get_object() if hasattr(res, "get_object") else res
        if res.get("/XObject"):
            return True
        contents = page.get_contents()
        return bool(contents and contents.get_data().strip())
    except Exception:
        return True


def _pypdf_has_images(page) -> bool:
    try:
        res = page.get("/Resources") or {}
        res = res.get_object() if hasattr(res, "get_object") else res
        return bool(res.get("/XObject"))
    except Exception:
        return False


def _inner(cause: str) -> str:
    if cause.startswith("damaged PDF (") and cause.endswith(")"):
        return cause[len("damaged PDF (") : -1]
    return cause


def _one_line(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return (s[0] if s else type(e).__name__)[:200]


# ------------------------------------------------------------------------------------ facade
def read_pdf(source, *, password=None, engine="auto", progress=None, ocr="auto") -> Parsed:
    """Read a PDF from a path or bytes; OCR pages without text (see scan.py). Raises ReadError."""
    from . import scan

    parsed = _read_text_layer(source, password, engine, progress)
    return scan.finish(source, password, parsed, ocr, progress)


def _read_text_layer(source, password, engine, progress) -> Parsed:
    if engine == "pypdf":
        return read_pypdf(source, password=password, progress=progress)
    try:
        parsed = read_pdfium(source, password=password, progress=progress)
        unread = parsed.info.pop("text_unread", [])
        if unread and engine == "auto":
            parsed = _retry_pages_with_pypdf(source, password, parsed, unread)
        parsed.info.pop("text_unread", None)
        return parsed
    except ReadError as first:
        if engine == "pdfium" or "password" in first.cause:
            raise
        # PDFium could not open it: try pypdf's tolerant parser before giving up.
        try:
            parsed = read_pypdf(source, password=password, progress=None)
        except ReadError as second:
            raise ReadError(f"damaged PDF (PDFium: {_inner(first.cause)}; pypdf: {_inner(second.cause)})") from None
        if not any(t for t in parsed.text.split(PAGE_SEP) if t.strip()):
            raise ReadError(f"{first.cause}; pypdf recovered no text") from None
        parsed.warnings.insert(0, f"PDFium could not open it ({first.cause}); recovered with pypdf")
        return parsed
