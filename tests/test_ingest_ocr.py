"""Scanned pages: the [ocr] extra (rapidocr-onnxruntime) on generated image-only PDFs and images, and
what happens without it (issue 14), plus the nearly-empty text layer warning (issue 18, item 10)."""
from __future__ import annotations

import pytest

from rlm_cli.errors import InputError
from rlm_cli.ingest import load_sources, ocr
from tests import ingest_fixtures as fx
from tests import kind_fixtures as kf

HAVE_OCR = ocr.available()
needs_ocr = pytest.mark.skipif(not HAVE_OCR, reason="the [ocr] extra is not installed (pip install -e '.[ocr]')")
EXTRA = "install the [ocr] extra (pip install 'rlm-cli[ocr]')"


class Recorder:
    def __init__(self):
        self.events = []

    def start(self, total, unit, description):
        self.events.append(("start", total, unit, description))

    def advance(self, n=1):
        self.events.append(("advance", n))

    def finish(self):
        self.events.append(("finish",))


@pytest.fixture
def no_ocr(monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)


# ------------------------------------------------------------------------------ without the extra
def test_scanned_pdf_without_the_extra_says_how_to_read_it(no_ocr, tmp_path):
    p = kf.make_scan_pdf(tmp_path / "scan.pdf", 2)
    with pytest.raises(InputError) as ei:
        load_sources([str(p)], use_cache=False)
    assert str(ei.value) == f"{p}: p.1, p.2: no text layer (scanned or image-only pages): {EXTRA} to read them"


def test_image_without_the_extra(no_ocr, tmp_path):
    p = tmp_path / "photo.jpg"
    kf.text_image().convert("RGB").save(p, "JPEG")
    with pytest.raises(InputError, match=r"photo.jpg: JPEG image: its text needs OCR: install the \[ocr\] extra"):
        load_sources([str(p)])


def test_nearly_empty_text_layer_is_warned_about(no_ocr, tmp_path, cli, script):
    p = kf.make_scan_pdf(tmp_path / "scan.pdf", 12, stray="ii.")
    ctx = load_sources([str(p)], use_cache=False)
    warning = (f"{p}: text layer nearly empty: 36 characters on 12 pages (a scanned document?); "
               f"to OCR it, {EXTRA} and use --ocr always")
    assert warning in ctx.warnings
    # and `rlm ask` shows it on stderr before the model is asked anything
    model = script([{"turn": 1, "when": "Question", "reply": "```repl\nFINAL('no information')\n```"}])
    r = cli(["ask", p, "what is the invoice number?", "-m", model])
    assert r.exit_code == 0 and f"rlm: warning: {warning}" in r.stderr


def test_normal_short_pdf_is_not_called_nearly_empty(no_ocr, tmp_path):
    ctx = load_sources([str(fx.make_pdf(tmp_path / "short.pdf", 1))], use_cache=False)
    assert not any("nearly empty" in w for w in ctx.warnings)


def test_ocr_never(tmp_path):
    p = kf.make_scan_pdf(tmp_path / "scan.pdf", 1)
    with pytest.raises(InputError, match=r"p.1: no text layer \(scanned or image-only pages\): OCR disabled by --ocr never"):
        load_sources([str(p)], ocr="never", use_cache=False)
    img = tmp_path / "a.png"
    kf.text_image().save(img)
    with pytest.raises(InputError, match=r"a.png: PNG image: not read \(--ocr never\)"):
        load_sources([str(img)], ocr="never")


def test_lines_from_boxes_reading_order():
    boxes = [([[300, 10], [400, 10], [400, 30], [300, 30]], "world", 0.9),
             ([[10, 12], [100, 12], [100, 32], [10, 32]], "hello", 0.9),
             ([[10, 50], [100, 50], [100, 70], [10, 70]], "next line", 0.9),
             ([[10, 200], [100, 200], [100, 220], [10, 220]], "new paragraph", 0.9)]
    assert ocr.lines_from_boxes(boxes) == "hello world\nnext line\n\nnew paragraph"


# --------------------------------------------------------------------------------- with the extra
@needs_ocr
@pytest.mark.slow
def test_ocr_of_a_scanned_pdf(tmp_path):
    p = kf.make_scan_pdf(tmp_path / "scan.pdf", 2)
    rec = Recorder()
    ctx = load_sources([str(p)], progress=rec)
    [src] = ctx.sources
    assert len(src.pages) == 2
    for phrase in ("ZX-4471", "Northwind Traders", "340 crates", "1,250.00 EUR"):
        assert phrase in ctx.text
    assert ctx.locate(ctx.text.rindex("Northwind")) == f"{p} p.2"
    assert src.warnings == ["p.1, p.2: text read by OCR"]
    assert ("start", 2, "pages", "OCR") in rec.events and rec.events.count(("advance", 1)) >= 2  # per-page progress
    cached = load_sources([str(p)])  # OCR results are cached like any parse
    assert cached.text == ctx.text


@needs_ocr
@pytest.mark.slow
def test_ocr_of_scan_with_stray_characters_and_of_images(tmp_path):
    p = kf.make_scan_pdf(tmp_path / "stray.pdf", 1, stray="ii.")
    ctx = load_sources([str(p)], use_cache=False)
    assert "Northwind Traders" in ctx.text and not any("nearly empty" in w for w in ctx.warnings)
    img = tmp_path / "page.tiff"
    frames = [kf.text_image(), kf.text_image(["Second page says QUINCE-88"])]
    frames[0].save(img, save_all=True, append_images=frames[1:])
    ctx = load_sources([str(img)], use_cache=False)
    [src] = ctx.sources
    assert src.kind == "image" and "ZX-4471" in ctx.text and "QUINCE-88" in ctx.text
    assert ctx.locate(ctx.text.index("QUINCE")) == f"{img} p.2"


@needs_ocr
@pytest.mark.slow
def test_png_named_pdf_is_ocrd(tmp_path, cli):
    p = tmp_path / "invoice.pdf"
    kf.text_image().save(p, "PNG")
    r = cli(["ingest", p, "--text"])
    assert r.exit_code == 0, r.stderr
    assert "Invoice number ZX-4471" in r.stdout
