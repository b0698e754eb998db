"""OCR for scanned pages and images: the optional `[ocr]` extra (rapidocr-onnxruntime 1.4.4).

rapidocr-onnxruntime ships its ONNX models (PP-OCRv4 detection + recognition, ~15 MB) inside the
wheel, so nothing is downloaded at run time (rapidocr 3.x downloads models on first use, which is
why the extra pins 1.4.x). Used for PDF pages without a text layer (rendered with pypdfium2) and
for PNG/JPEG/TIFF/WebP/BMP/GIF files, under `--ocr auto|always|never`:

- auto: OCR image files named on the command line and PDF pages that draw an image but have no
  (or almost no) text; images found by walking a directory are skipped.
- always: also OCR every PDF page (replacing its text layer) and images found in directories.
- never: no OCR; pages without text are reported.

Without the extra, the same pages are reported with a hint naming the extra (HINT).
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import threading

from .base import NullProgress, Parsed, ReadError

EXTRA = "install the [ocr] extra (pip install 'rlm-cli[ocr]')"
HINT = f"{EXTRA} to read them"
RENDER_SCALE = 2.0  # 144 dpi: PP-OCRv4 reads body text well at this size; higher costs time, not accuracy
MAX_IMAGE_PIXELS = 200_000_000
_engine = None
_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def available() -> bool:
    """Is the OCR engine installed? (Cheap: no import; asked once per process.)"""
    try:
        return importlib.util.find_spec("rapidocr_onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def engine():
    """The OCR engine, loaded once (about 1 s: three ONNX models)."""
    global _engine
    with _lock:
        if _engine is None:
            if not available():
                raise ReadError(f"image or scanned page needs OCR: {EXTRA}")
            try:
                from rapidocr_onnxruntime import RapidOCR

                for name in ("RapidOCR", "OrtInferSession"):  # it logs DEBUG lines to stderr by default
                    logging.getLogger(name).disabled = True
                _engine = RapidOCR()
            except (ImportError, OSError) as e:  # e.g. OpenCV without the system's libGL
                raise ReadError(f"the OCR engine could not be loaded ({str(e).splitlines()[0][:120]})") from None
            for name in ("RapidOCR", "OrtInferSession"):
                logging.getLogger(name).disabled = True
    return _engine


def lines_from_boxes(result) -> str:
    """rapidocr's [(box, text, score)] -> text in reading order: boxes grouped into lines by their
    vertical centre, lines ordered top to bottom, boxes left to right; a large vertical gap makes a
    blank line (a new paragraph)."""
    items = []
    for box, text, _score in result or []:
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        items.append(((min(ys) + max(ys)) / 2, max(max(ys) - min(ys), 1.0), min(xs), text.strip()))
    items.sort(key=lambda t: (t[0], t[2]))
    lines: list[list] = []  # [centre, height, [(x, text)]]
    for cy, h, x, text in items:
        if lines and abs(cy - lines[-1][0]) < 0.5 * min(h, lines[-1][1]):
            lines[-1][2].append((x, text))
        else:
            lines.append([cy, h, [(x, text)]])
    out, prev = [], None
    for cy, h, words in lines:
        if prev is not None and cy - prev[0] > 2.2 * max(h, prev[1]):
            out.append("")
        out.append(" ".join(t for _, t in sorted(words) if t))
        prev = (cy, h)
    return "\n".join(out).strip("\n")


def ocr_image(img) -> str:
    """Text of one PIL image."""
    import numpy as np

    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if img.mode == "L":
        img = img.convert("RGB")
    result, _ = engine()(np.asarray(img))
    import unicodedata

    # NFKC: the recogniser (trained on Chinese and English) emits full-width punctuation such as "）".
    return unicodedata.normalize("NFKC", lines_from_boxes(result))


def _frames(source):
    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    import io

    try:
        img = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
        img.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ReadError(f"damaged image ({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})") from None
    except Image.DecompressionBombError:
        raise ReadError(f"image larger than {MAX_IMAGE_PIXELS:,} pixels: refused") from None
    return img, getattr(img, "n_frames", 1), ImageSequence.Iterator(img)


def read_image(source, label: str = "image", progress=None) -> Parsed:
    """OCR an image file; a multi-page TIFF gets one span per page ("scan.tiff p.2")."""
    if not available():
        raise ReadError(f"{label} image: its text needs OCR: {EXTRA}")
    progress = progress or NullProgress()
    img, n, frames = _frames(source)
    progress.start(n, "pages", "OCR")
    texts = []
    try:
        for frame in frames:
            texts.append(ocr_image(frame.copy()))
            progress.advance(1)
    except ReadError:
        raise
    except Exception as e:  # the engine failing on one odd image: one line, not a traceback
        raise ReadError(f"OCR failed ({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''})") from None
    finally:
        img.close()
    if n == 1:
        text, spans = texts[0], []
    else:
        from .pdf import PAGE_SEP

        text, spans, pos = "", [], 0
        for i, t in enumerate(texts):
            if i:
                text += PAGE_SEP
                pos += len(PAGE_SEP)
            spans.append((i + 1, pos, pos + len(t)))
            text += t
            pos += len(t)
    warnings = [] if text.strip() else [f"OCR found no text in the {label} image"]
    return Parsed(text, "image", spans, warnings, {"ocr": True, "format": label})


def ocr_pdf_pages(source, password, numbers: list[int], progress=None) -> dict[int, str]:
    """Render the given 1-based pages with PDFium and OCR them; returns {page: text}."""
    import pypdfium2 as pdfium

    progress = progress or NullProgress()
    engine()  # fail early (and load the models once) before rendering anything
    doc = pdfium.PdfDocument(source, password=password or None)
    out = {}
    try:
        progress.start(len(numbers), "pages", "OCR")
        for n in numbers:
            page = doc[n - 1]
            try:
                bitmap = page.render(scale=RENDER_SCALE, grayscale=True)
                out[n] = ocr_image(bitmap.to_pil())
            finally:
                page.close()
            progress.advance(1)
    finally:
        doc.close()
    return out
