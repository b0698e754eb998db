"""Ingestion of PDF and DOCX files (fixtures generated in tmp_path)."""
from __future__ import annotations

import io
import logging
import warnings

import pytest

from rlm_cli.errors import InputError
from rlm_cli.ingest import load_sources
from rlm_cli.ingest import pdf as pdfmod
from rlm_cli.ingest.base import ReadError
from tests import ingest_fixtures as fx


NO_OCR = "install the [ocr] extra (pip install 'rlm-cli[ocr]') to read them"


@pytest.fixture(autouse=True)
def _rlm_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "rlm_home"))
    # These tests describe a machine without the [ocr] extra (tests/test_ingest_ocr.py covers OCR).
    monkeypatch.setattr("rlm_cli.ingest.ocr.available", lambda: False)


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pdfs")
    plain = fx.make_pdf(d / "plain.pdf", 5, image_pages=(2, 4))
    return {
        "plain": plain,
        "blank": fx.make_pdf(d / "blank.pdf", 3, blank_pages=(2,)),
        "aes128": fx.encrypt_pdf(plain, d / "aes128.pdf", algorithm="AES-128"),
        "aes256": fx.encrypt_pdf(plain, d / "aes256.pdf", algorithm="AES-256"),
        "rc4": fx.encrypt_pdf(plain, d / "rc4.pdf", algorithm="RC4-128"),
        "secret": fx.encrypt_pdf(plain, d / "secret.pdf", user_password="s3cret", algorithm="AES-256"),
        "truncated": fx.truncate(plain, d / "truncated.pdf", 0.5),
        "noxref": fx.strip_xref(plain, d / "noxref.pdf"),
        "scan": fx.make_pdf(d / "scan.pdf", 2, image_pages=(1, 2)),
    }


ENGINES = ["auto", "pdfium", "pypdf"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["plain", "aes128", "aes256", "rc4"])
def test_pdf_text_pages_and_encryption(pdfs, kind, engine):
    ctx = load_sources([str(pdfs[kind])], pdf_engine=engine, use_cache=False)
    [src] = ctx.sources
    assert src.kind == "pdf" and len(src.pages) == 5
    for n in (1, 3, 5):
        off = ctx.text.index(f"PG{n:04d}")
        assert ctx.locate(off) == f"{src.name} p.{n}"
        page = src.pages[n - 1]
        assert ctx.text[page.start:page.end] == fx.page_text(n)
    assert ctx.text.startswith(fx.page_text(1)) and (src.start, src.end) == (0, len(ctx.text))
    assert ctx.text[src.start:src.end].count("\f") == 4
    assert src.warnings == [f"p.2, p.4: no text layer (scanned or image-only pages): {NO_OCR}"]
    assert ctx.warnings == [f"{src.name}: p.2, p.4: no text layer (scanned or image-only pages): {NO_OCR}"]


def test_blank_pages_not_reported(pdfs):
    ctx = load_sources([str(pdfs["blank"])], use_cache=False)
    assert ctx.warnings == []
    assert [p.number for p in ctx.sources[0].pages] == [1, 2, 3]


@pytest.mark.parametrize("engine", ENGINES)
def test_pdf_password(pdfs, engine):
    path = str(pdfs["secret"])
    with pytest.raises(InputError, match="needs --password") as ei:
        load_sources([path], pdf_engine=engine)
    assert ei.value.path == path
    with pytest.raises(InputError, match="wrong password"):
        load_sources([path], password="nope", pdf_engine=engine)
    ctx = load_sources([path], password="s3cret", pdf_engine=engine)
    assert "PG0005" in ctx.text


def test_password_documents_never_cached(pdfs, tmp_path):
    from rlm_cli.ingest import cache

    load_sources([str(pdfs["secret"])], password="s3cret")
    assert cache.info()["entries"] == 0


def test_damaged_pdfs(pdfs):
    with pytest.raises(InputError, match="damaged PDF") as ei:
        load_sources([str(pdfs["truncated"])])
    assert str(pdfs["truncated"]) in str(ei.value) and "\n" not in str(ei.value)
    # a broken xref table is rebuilt by PDFium
    ctx = load_sources([str(pdfs["noxref"])], pdf_engine="pdfium")
    assert "PG0005" in ctx.text


def test_pdfium_failure_falls_back_to_pypdf(pdfs, monkeypatch):
    def broken(*a, **k):
        raise ReadError("damaged PDF (invalid structure)")

    monkeypatch.setattr(pdfmod, "read_pdfium", broken)
    ctx = load_sources([str(pdfs["plain"])], use_cache=False)
    assert "PG0003" in ctx.text
    assert any("recovered with pypdf" in w for w in ctx.warnings)
    with pytest.raises(InputError, match="damaged"):
        load_sources([str(pdfs["plain"])], pdf_engine="pdfium", use_cache=False)


def test_scanned_pdf_only_is_an_input_error(pdfs):
    with pytest.raises(InputError, match=r"scan.pdf: p.1, p.2: no text layer \(scanned or image-only pages\): install the \[ocr\] extra"):
        load_sources([str(pdfs["scan"])])


def test_pdf_from_stdin(pdfs):
    ctx = load_sources(["-"], stdin=io.BytesIO(pdfs["plain"].read_bytes()))
    [src] = ctx.sources
    assert src.name == "<stdin>" and len(src.pages) == 5 and "PG0005" in ctx.text


def test_parallel_equals_sequential(tmp_path):
    path = fx.make_pdf(tmp_path / "many.pdf", 40, image_pages=(7,))
    seq = pdfmod.read_pdfium(str(path), parallel=False)
    par = pdfmod.read_pdfium(str(path), parallel=True)
    assert par.text == seq.text and par.pages == seq.pages and par.warnings == seq.warnings
    assert len(seq.pages) == 40


def test_pypdf_noise_captured_and_summarised(pdfs, monkeypatch):
    real = pdfmod.read_pypdf

    from pypdf import PageObject

    orig = PageObject.extract_text

    def noisy(self, *a, **k):
        for _ in range(3):
            logging.getLogger("pypdf._page").warning("Advanced encoding /X not implemented yet; font missing")
        warnings.warn("some pypdf warning", stacklevel=2)
        return orig(self, *a, **k)

    monkeypatch.setattr(PageObject, "extract_text", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked warning would raise here
        parsed = real(str(pdfs["plain"]))
    summary = [w for w in parsed.warnings if w.startswith("pypdf:")]
    assert len(summary) == 1
    assert "15 font warnings and 5 other warnings suppressed" in summary[0]


# ---------------------------------------------------------------------------------------- DOCX
@pytest.fixture(scope="module")
def docx_path(tmp_path_factory):
    return fx.make_docx(tmp_path_factory.mktemp("docx") / "report.docx")


def test_docx_content_in_order(docx_path):
    ctx = load_sources([str(docx_path)], use_cache=False)
    [src] = ctx.sources
    body = ctx.text[src.start:src.end]
    order = ["HEADER-TEXT", "# Document Title", "BODY-ONE", "• Bullet item one", "1. Numbered step one",
             "2. Numbered step two", "ACME-CORP | Q3-MISSED", "TEXTBOX-CONTENT", "BODY-LAST",
             "[^1] FOOTNOTE-ONE", "[^e1] ENDNOTE-ONE", "FOOTER-TEXT"]
    positions = [body.index(s) for s in order]
    assert positions == sorted(positions)
    assert body.count("TEXTBOX-CONTENT") == 1  # the VML fallback copy is not read twice
    assert "BODY-ONE with a note[^1][^e1]" in body
    assert src.kind == "docx" and ctx.locate(ctx.text.index("ACME")) == f"{src.name} line 9"


@pytest.mark.parametrize(
    "maker, cause",
    [(fx.make_xlsx_renamed, r"XLSX"), (fx.make_odt_renamed, r"OpenDocument file \(ODT\)"),
     (fx.make_encrypted_docx, "password-protected")],
)
def test_docx_errors(tmp_path, maker, cause):
    path = maker(tmp_path / "file.docx")
    with pytest.raises(InputError, match=cause) as ei:
        load_sources([str(path)])
    assert ei.value.path == str(path)


def test_docx_garbage(tmp_path):
    p = tmp_path / "bad.docx"
    p.write_bytes(b"PK\x03\x04 this is not a zip at all")
    with pytest.raises(InputError, match=r"bad.docx: damaged DOCX \(not a readable ZIP package"):
        load_sources([str(p)])
    p.write_bytes(b"this is text, not a zip at all")  # content wins: it is read as the text it is
    ctx = load_sources([str(p)])
    assert ctx.text == "this is text, not a zip at all"
    assert ctx.warnings == [f"{p}: named .docx but the content is text: read as text"]


def test_docx_from_stdin(docx_path):
    ctx = load_sources(["-"], stdin=io.BytesIO(docx_path.read_bytes()))
    assert "ACME-CORP" in ctx.text and "FOOTNOTE-ONE" in ctx.text


def test_directory_mixing_kinds_with_bad_file_skipped(tmp_path, pdfs, docx_path):
    d = tmp_path / "mixed"
    d.mkdir()
    (d / "a.pdf").write_bytes(pdfs["plain"].read_bytes())
    (d / "b.docx").write_bytes(docx_path.read_bytes())
    (d / "c.pdf").write_bytes(pdfs["secret"].read_bytes())
    (d / "d.txt").write_text("plain words")
    ctx = load_sources([str(d)])
    assert [s.kind for s in ctx.sources] == ["pdf", "docx", "text"]
    assert any("c.pdf: skipped: encrypted PDF: needs --password" in w for w in ctx.warnings)
    assert ctx.locate(ctx.text.index("PG0003")).endswith("a.pdf p.3")
    assert ctx.locate(ctx.text.index("plain words")).endswith("d.txt line 1")


def test_vertical_cjk_recovered_and_ligatures(tmp_path):
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    font = UnicodeCIDFont("HeiseiMin-W3", isVertical=True)
    pdfmetrics.registerFont(font)
    path = tmp_path / "vertical.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(font.fontName, 14)
    c.drawString(300, 700, "縦書きの文章です")
    c.showPage()
    from reportlab.pdfbase.ttfonts import TTFont

    dejavu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not __import__("os").path.exists(dejavu):
        pytest.skip("DejaVu font not installed")
    pdfmetrics.registerFont(TTFont("DejaVuT", dejavu))
    c.setFont("DejaVuT", 12)
    c.drawString(72, 700, "Cafe\u0301 page two \ufb01nal")  # combining accent -> NFC
    c.showPage()
    c.save()
    ctx = load_sources([str(path)], use_cache=False)
    assert "縦書きの文章です" in ctx.text
    assert "Café page two final" in ctx.text  # NFC, and PDFium splits the "ﬁ" ligature
    assert any("text read with pypdf" in w for w in ctx.warnings)
    assert not any("OCR" in w for w in ctx.warnings)
