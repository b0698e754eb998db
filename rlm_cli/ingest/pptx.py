"""PPTX reader (python-pptx): slide text and speaker notes in order, a span per slide.

Each slide is written as

    # Slide 3: <title>            ("(hidden)" appended for hidden slides)
    <text of every other shape in document order; groups flattened; tables as "a | b" rows>

    Notes: <speaker notes>

and slides are separated by a blank line. `locate` answers "deck.pptx slide 3".
"""
from __future__ import annotations

import io

from .base import Parsed, ReadError
from .zipcheck import check_zip

SLIDE_SEP = "\n\n"


def _open(source):
    import zipfile

    from pptx import Presentation
    from pptx.exc import PackageNotFoundError

    blob = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        with zipfile.ZipFile(blob) as z:
            check_zip(z, "PPTX")
        if isinstance(blob, io.BytesIO):
            blob.seek(0)
        return Presentation(blob)
    except ReadError:
        raise
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as e:
        raise ReadError(f"damaged PPTX ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})") from None
    except Exception as e:  # lxml errors and other surprises inside a broken package
        raise ReadError(f"damaged PPTX ({type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''})") from None


def _shape_lines(shape, out: list[str]) -> None:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    try:
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            for sub in shape.shapes:
                _shape_lines(sub, out)
            return
    except (NotImplementedError, AttributeError, KeyError):
        pass
    if getattr(shape, "has_table", False) and shape.has_table:
        for row in shape.table.rows:
            cells = [" ".join(c.text.split()) for c in row.cells]
            if any(cells):
                out.append(" | ".join(cells))
        return
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for para in shape.text_frame.paragraphs:
            text = "".join(r.text for r in para.runs) if para.runs else para.text
            text = text.replace("\x0b", "\n").strip()
            if text:
                out.append("  " * (para.level or 0) + text)


def _slide_text(n: int, slide) -> str:
    title_shape = slide.shapes.title
    title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None and title_shape.has_text_frame else ""
    hidden = slide._element.get("show") == "0"
    head = f"# Slide {n}" + (f": {title}" if title else "") + (" (hidden)" if hidden else "")
    lines: list[str] = []
    for shape in slide.shapes:
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        _shape_lines(shape, lines)
    text = head + ("\n" + "\n".join(lines) if lines else "")
    if slide.has_notes_slide:
        notes_tf = slide.notes_slide.notes_text_frame
        notes = notes_tf.text.strip() if notes_tf is not None else ""
        if notes:
            text += "\n\nNotes: " + notes
    return text


def read_pptx(source, progress=None) -> Parsed:
    prs = _open(source)
    parts, spans, pos, warnings = [], [], 0, []
    slides = list(prs.slides)
    if progress is not None:
        progress.start(len(slides), "slides", "Reading slides")
    for n, slide in enumerate(slides, 1):
        try:
            text = _slide_text(n, slide)
        except Exception as e:  # one broken slide must not sink the deck
            warnings.append(f"slide {n}: unreadable ({type(e).__name__})")
            text = f"# Slide {n}"
        if parts:
            parts.append(SLIDE_SEP)
            pos += len(SLIDE_SEP)
        spans.append((n, pos, pos + len(text), f"slide {n}", 0))
        parts.append(text)
        pos += len(text)
        if progress is not None:
            progress.advance(1)
    if not spans:
        raise ReadError("no slides in the PPTX")
    return Parsed("".join(parts), "pptx", spans, warnings, {"slides": len(spans)}, unit="slide")
