"""The input kinds beyond text/PDF/DOCX: HTML, EPUB, PPTX, XLSX, CSV/TSV, e-mail; detection by content."""
from __future__ import annotations

import pytest

from rlm_cli.errors import InputError
from rlm_cli.ingest import load_sources
from tests import ingest_fixtures as fx
from tests import kind_fixtures as kf


@pytest.fixture(autouse=True)
def _no_ocr(monkeypatch):
    monkeypatch.setattr("rlm_cli.ingest.ocr.available", lambda: False)  # as without the [ocr] extra


def one(path, **kw):
    ctx = load_sources([str(path)], use_cache=False, **kw)
    [src] = ctx.sources
    return ctx, src


def test_html_main_text_title_headings_and_sections(tmp_path):
    ctx, src = one(kf.make_html(tmp_path / "page.html"))
    assert src.kind == "html" and src.unit == "section"
    assert ctx.text.startswith("# Solar Report 2024\n")
    for phrase in ("## Costs", "Module prices fell to 11 cents per watt", "- Modules: 11 c/W", "| North | 2.1 |",
                   "### Regional differences"):
        assert phrase in ctx.text
    for boilerplate in ("About us", "Cookie policy", "SHOULD-NOT-APPEAR"):
        assert boilerplate not in ctx.text
    assert ctx.locate(ctx.text.index("11 cents")) == f"{src.name} § Costs"
    assert ctx.locate(ctx.text.index("twice as much")) == f"{src.name} § Regional differences"


def test_html_detected_by_content_and_charset(tmp_path):
    p = tmp_path / "saved.txt"
    p.write_bytes(b"<!DOCTYPE html><html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head>"
                  b"<body><p>Cr\xe8me br\xfbl\xe9e costs four euros at the corner caf\xe9 on Sundays.</p></body></html>")
    ctx, src = one(p)
    assert src.kind == "html"
    assert "Crème brûlée costs four euros" in ctx.text and ctx.text.startswith("# Café")


def test_epub_chapters_in_spine_order(tmp_path):
    ctx, src = one(kf.make_epub(tmp_path / "book.epub", 4))
    assert src.kind == "epub" and src.unit == "chapter" and len(src.pages) == 4
    offsets = [ctx.text.index(f"CH{i:03d}") for i in range(1, 5)]
    assert offsets == sorted(offsets)  # spine order, although the ZIP holds the chapters in reverse
    assert ctx.locate(offsets[2]) == f"{src.name} ch. 3"
    assert "# Chapter 3" in ctx.text and "counted 21 ships" in ctx.text


def test_epub_with_drm_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"book.epub: DRM-protected \(encrypted\) EPUB: not supported"):
        one(kf.make_epub(tmp_path / "book.epub", drm=True))


def test_pptx_slides_notes_tables(tmp_path):
    ctx, src = one(kf.make_pptx(tmp_path / "deck.pptx", 3))
    assert src.kind == "pptx" and src.unit == "slide" and len(src.pages) == 3
    assert "# Slide 2: Slide title 2\nBullet point SLIDE02 about revenue" in ctx.text
    assert "Notes: Speaker note NOTE03" in ctx.text
    assert "Q3 | TABLE-CELL-77" in ctx.text
    assert ctx.locate(ctx.text.index("TABLE-CELL-77")) == f"{src.name} slide 2"
    assert ctx.locate(ctx.text.index("NOTE03")) == f"{src.name} slide 3"


def test_xlsx_rows_sheets_and_row_locations(tmp_path):
    ctx, src = one(kf.make_xlsx(tmp_path / "budget.xlsx"))
    assert src.kind == "xlsx" and src.unit == "sheet"
    assert ctx.text.startswith("# Sheet: Budget\nItem\tAmount\tNote\nitem-2\t3\tok fine\n")  # tab inside a cell -> space
    assert "item-121\t181.5\tok fine" in ctx.text
    assert ctx.locate(ctx.text.index("ROW-MARK")) == f"{src.name} Budget row 120"
    assert ctx.locate(ctx.text.index("item-200")) == f"{src.name} Budget row 200"
    assert "after the gap\tTRUE\t\t3" in ctx.text
    assert ctx.locate(ctx.text.index("after the gap")) == f"{src.name} Notes row 12"
    assert "\n\n\n\n\n" not in ctx.text  # the 10-row gap is a new span, not ten empty lines


def test_csv_tsv_and_semicolons(tmp_path):
    c = tmp_path / "data.csv"
    c.write_text('name,comment\nann,"multi\nline, quoted"\nbob,plain\n', encoding="utf-8")
    ctx, src = one(c)
    assert src.kind == "csv"
    assert ctx.text == "name\tcomment\nann\tmulti line, quoted\nbob\tplain"
    assert ctx.locate(ctx.text.index("bob")) == f"{c} row 3"  # records, not physical lines
    t = tmp_path / "data.tsv"
    t.write_text("a\tb\n1\t2\n")
    assert one(t)[0].text == "a\tb\n1\t2"
    s = tmp_path / "euro.csv"
    s.write_text("name;price\nbread;2,50\nmilk;1,10\n")
    assert one(s)[0].text == "name\tprice\nbread\t2,50\nmilk\t1,10"


def test_eml_headers_body_and_attachments(tmp_path):
    pdf = fx.make_pdf(tmp_path / "r.pdf", 2)
    p = tmp_path / "mail.eml"
    kf.make_eml(p, attach_pdf=pdf.read_bytes())
    ctx = load_sources([str(p)], use_cache=False)
    main, att = ctx.sources
    assert (main.name, main.kind) == (str(p), "email")
    body = ctx.text[main.start:main.end]
    assert body.startswith("From: Alice Example <alice@example.org>\nTo: Bob <bob@example.org>\n"
                           "Date: Mon, 01 Jul 2024 10:00:00 +0000\nSubject: Quarterly numbers MAIL-SUBJ\n\n")
    assert "PLAIN-BODY-7" in body
    assert "[Attachment: report.pdf (pdf, " in body and "blob.bin (application/octet-stream" in body
    assert att.name == f"{p} › report.pdf" and att.kind == "pdf" and len(att.pages) == 2
    assert ctx.locate(ctx.text.index("PG0002")) == f"{p} › report.pdf p.2"
    html_only = tmp_path / "h.eml"
    kf.make_eml(html_only, html_only=True)
    ctx, _ = one(html_only)
    assert "The HTML body says HTML-BODY-42." in ctx.text and "<p>" not in ctx.text


def test_mbox_messages_are_spans(tmp_path):
    ctx, src = one(kf.make_mbox(tmp_path / "box.mbox", 3))
    assert src.kind == "mbox" and src.unit == "message" and len(src.pages) == 3
    assert ctx.locate(ctx.text.index("MSG02")) == f"{src.name} msg 2"
    assert "Subject: Message number 3" in ctx.text and "From the desk of sender 2" in ctx.text


def test_mbox_detected_without_extension(tmp_path):
    p = tmp_path / "archive"
    p.write_bytes(kf.make_mbox(tmp_path / "x.mbox").read_bytes())
    assert one(p)[1].kind == "mbox"


# ------------------------------------------------------------------ detection by content (issue 18)
def test_png_named_pdf_is_an_image_not_a_damaged_pdf(tmp_path):
    p = tmp_path / "scan.pdf"
    kf.text_image().save(p, "PNG")
    with pytest.raises(InputError) as ei:
        one(p)
    msg = str(ei.value)
    assert msg == f"{p}: PNG image: its text needs OCR: install the [ocr] extra (pip install 'rlm-cli[ocr]')"
    assert "damaged" not in msg


def test_text_named_pdf_is_read_as_text(tmp_path):
    p = tmp_path / "oops.pdf"
    p.write_text("oops")
    ctx, src = one(p)
    assert ctx.text == "oops" and src.kind == "text"
    assert ctx.warnings == [f"{p}: named .pdf but the content is text: read as text"]


@pytest.mark.parametrize("maker,name,kind", [
    (kf.make_pptx, "deck.docx", "pptx"), (kf.make_xlsx, "sheet.pptx", "xlsx"), (kf.make_epub, "book.zip", "epub"),
    (lambda p: fx.make_docx(p), "letter.xlsx", "docx"), (lambda p: fx.make_pdf(p, 1), "doc.epub", "pdf"),
])
def test_renamed_files_are_read_by_content(tmp_path, maker, name, kind):
    made = maker(tmp_path / ("src." + kind))
    target = tmp_path / name
    target.write_bytes(made.read_bytes())
    ctx, src = one(target)
    assert src.kind == kind and ctx.text.strip()


@pytest.mark.parametrize("name,data,cause", [
    ("budget.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptionInfo".encode("utf-16-le") + bytes(600),
     r"password-protected \(encrypted\) XLSX: not supported"),
    ("deck.pptx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"EncryptedPackage" + "EncryptionInfo".encode("utf-16-le"),
     r"password-protected \(encrypted\) PPTX"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), r"legacy Excel .xls \(OLE\) file: not supported"),
    ("book.epub", b"PK\x03\x04" + b"garbage" * 20, r"damaged EPUB \(not a readable ZIP package"),
    ("doc.odt", None, r"OpenDocument file \(ODT\): not supported"),
    ("archive.zip", None, r"binary file \(ZIP archive\), not text"),
])
def test_bad_files_one_line_errors(tmp_path, name, data, cause):
    p = tmp_path / name
    if name == "doc.odt":
        fx.make_odt_renamed(p)
    elif name == "archive.zip":
        import zipfile

        with zipfile.ZipFile(p, "w") as z:
            z.writestr("readme.txt", "hello")
    else:
        p.write_bytes(data)
    with pytest.raises(InputError, match=cause) as ei:
        one(p)
    assert str(ei.value).startswith(f"{p}: ") and "\n" not in str(ei.value)


def test_truncated_office_files(tmp_path):
    for maker, name, what in ((kf.make_pptx, "deck.pptx", "PPTX"), (kf.make_xlsx, "b.xlsx", "XLSX"),
                              (kf.make_epub, "e.epub", "EPUB")):
        p = maker(tmp_path / name)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
        with pytest.raises(InputError, match=rf"{name}: damaged {what}") as ei:
            one(p)
        assert "\n" not in str(ei.value)


def test_directory_mixes_kinds_and_skips_images(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    kf.make_pptx(d / "a.pptx", 1)
    kf.make_html(d / "b.html")
    kf.text_image().save(d / "c.png")
    ctx = load_sources([str(d)], use_cache=False)
    assert [s.kind for s in ctx.sources] == ["pptx", "html"]
    assert any("skipped 1 binary file(s)" in w and "c.png" in w and "[ocr] extra" in w for w in ctx.warnings)


def test_parse_cache_covers_new_kinds(tmp_path, monkeypatch):
    from rlm_cli.ingest import cache, readers

    monkeypatch.setenv("RLM_HOME", str(tmp_path / "home"))
    calls = []
    real = readers.read_kind
    monkeypatch.setattr(readers, "read_kind", lambda det, src, *a, **k: calls.append(det.kind) or real(det, src, *a, **k))
    paths = [str(kf.make_pptx(tmp_path / "deck.pptx")), str(kf.make_xlsx(tmp_path / "b.xlsx")),
             str(kf.make_epub(tmp_path / "e.epub")), str(kf.make_html(tmp_path / "p.html"))]
    mail = tmp_path / "m.eml"
    kf.make_eml(mail, attach_pdf=fx.make_pdf(tmp_path / "r.pdf", 1).read_bytes())
    paths.append(str(mail))
    first = load_sources(paths)
    n = len(calls)
    second = load_sources(paths)
    assert len(calls) == n, "second run must come from the cache"
    assert second.text == first.text and [s.as_dict() for s in second.sources] == [s.as_dict() for s in first.sources]
    assert cache.info()["entries"] == 5


def test_ingest_command_rows(cli, tmp_path):
    r = cli(["ingest", kf.make_pptx(tmp_path / "deck.pptx", 3), kf.make_epub(tmp_path / "book.epub", 2),
             kf.make_xlsx(tmp_path / "b.xlsx")])
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("deck.pptx" in ln and "pptx" in ln and "3 slides" in ln for ln in lines)
    assert any("book.epub" in ln and "epub" in ln and "2 chapters" in ln for ln in lines)
    assert any("b.xlsx" in ln and "xlsx" in ln and "2 sheets" in ln for ln in lines)


def test_cli_bad_file_exit_3_one_line(cli, tmp_path):
    p = tmp_path / "photo.pdf"
    kf.text_image().save(p, "PNG")
    r = cli(["ingest", p])
    assert r.exit_code == 3
    assert r.stderr.count("\n") <= 2 and "photo.pdf: PNG image" in r.stderr and "damaged" not in r.stderr
