"""Generators for the new input kinds (HTML, EPUB, PPTX, XLSX, CSV, e-mail, scans), made by the
real libraries inside the tests: nothing binary is committed."""
from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage
from pathlib import Path

HTML_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Solar Report 2024</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About us</a> | <a href="/login">Login</a></nav>
<main><article><h1>Solar Report 2024</h1>
<h2>Introduction</h2>
<p>Solar capacity grew by 32 percent in 2024, according to the agency's annual review of installations.</p>
<p>The growth was led by utility-scale projects in the south, where permits were issued faster than before.</p>
<h2>Costs</h2>
<p>Module prices fell to 11 cents per watt, the lowest level on record, while installation labour costs rose slightly.</p>
<ul><li>Modules: 11 c/W</li><li>Inverters: 4 c/W</li></ul>
<h3>Regional differences</h3>
<p>The northern regions still pay about twice as much for rooftop systems as the southern ones, said the report.</p>
<table><tr><th>Region</th><th>Price</th></tr><tr><td>North</td><td>2.1</td></tr></table>
</article></main>
<footer>Copyright 2024 Example Corp. All rights reserved. Cookie policy. Terms of use.</footer>
<script>var tracking = "SHOULD-NOT-APPEAR";</script>
</body></html>"""


def make_html(path: Path) -> Path:
    path.write_text(HTML_PAGE, encoding="utf-8")
    return path


def chapter_text(n: int) -> str:
    return f"Chapter {n} text: the lighthouse keeper counted {n * 7} ships, marker CH{n:03d}."


def make_epub(path: Path, chapters: int = 3, *, drm: bool = False, paragraphs: int = 1) -> Path:
    """A minimal EPUB 3 (mimetype stored first, container, OPF with a spine in reverse file order)."""
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                 '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
                 '</rootfiles></container>')
    items = "".join(f'<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>' for i in range(1, chapters + 1))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(1, chapters + 1))
    opf = ('<?xml version="1.0" encoding="utf-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
           'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The Lighthouse</dc:title>'
           f'<dc:identifier id="id">x</dc:identifier></metadata><manifest>{items}'
           '<item id="css" href="style.css" media-type="text/css"/></manifest>'
           f'<spine>{spine}</spine></package>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")  # stored, first
        z.writestr("META-INF/container.xml", container)
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/style.css", "p { margin: 0 }")
        for i in range(chapters, 0, -1):  # written in reverse: the spine, not the ZIP order, decides
            z.writestr(f"OEBPS/text/ch{i}.xhtml",
                       '<?xml version="1.0" encoding="utf-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
                       f'<title>Chapter {i}</title></head><body><h1>Chapter {i}</h1>' + f'<p>{chapter_text(i)}</p>' * paragraphs
                       + '</body></html>')
        if drm:
            z.writestr("META-INF/encryption.xml",
                       '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                       'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData>'
                       '<enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
                       '<enc:CipherData><enc:CipherReference URI="OEBPS/text/ch1.xhtml"/></enc:CipherData>'
                       '</enc:EncryptedData></encryption>')
    return path


def make_pptx(path: Path, slides: int = 3) -> Path:
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    for i in range(1, slides + 1):
        slide = prs.slides.add_slide(prs.slide_layouts[1])  # title and content
        slide.shapes.title.text = f"Slide title {i}"
        slide.placeholders[1].text_frame.text = f"Bullet point SLIDE{i:02d} about revenue"
        slide.notes_slide.notes_text_frame.text = f"Speaker note NOTE{i:02d}"
        if i == 2:
            rows = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
            rows.cell(0, 0).text, rows.cell(0, 1).text = "Quarter", "Sales"
            rows.cell(1, 0).text, rows.cell(1, 1).text = "Q3", "TABLE-CELL-77"
    prs.save(str(path))
    return path


def make_xlsx(path: Path, rows: int = 200) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Budget")
    ws.append(["Item", "Amount", "Note"])
    for r in range(2, rows + 1):
        ws.append([f"item-{r}", r * 1.5, "needle ROW-MARK" if r == 120 else "ok\tfine"])
    ws2 = wb.create_sheet("Notes")
    ws2.append(["Second sheet SHEET-TWO"])
    for _ in range(10):
        ws2.append([])  # a gap of 10 empty rows
    ws2.append(["after the gap", True, None, 3.0])
    wb.save(str(path))
    return path


def make_eml(path: Path | None = None, *, html_only: bool = False, attach_pdf: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Alice Example <alice@example.org>"
    msg["To"] = "Bob <bob@example.org>"
    msg["Subject"] = "Quarterly numbers MAIL-SUBJ"
    msg["Date"] = "Mon, 01 Jul 2024 10:00:00 +0000"
    if html_only:
        msg.set_content("<html><body><h1>Numbers</h1><p>The HTML body says HTML-BODY-42.</p></body></html>", subtype="html")
    else:
        msg.set_content("Hello Bob,\nthe plain body says PLAIN-BODY-7.\n")
    if attach_pdf is not None:
        msg.add_attachment(attach_pdf, maintype="application", subtype="pdf", filename="report.pdf")
        msg.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="blob.bin")
    data = bytes(msg)
    if path is not None:
        path.write_bytes(data)
    return data


def make_mbox(path: Path, messages: int = 3) -> Path:
    out = io.BytesIO()
    for i in range(1, messages + 1):
        msg = EmailMessage()
        msg["From"] = f"sender{i}@example.org"
        msg["To"] = "team@example.org"
        msg["Subject"] = f"Message number {i}"
        msg["Date"] = f"Tue, 0{i} Jul 2024 09:00:00 +0000"
        msg.set_content(f"Body of message {i}: MSG{i:02d}.\nFrom the desk of sender {i}.\n")  # a body line starting with 'From '
        out.write(f"From sender{i}@example.org Tue Jul  {i} 09:00:00 2024\n".encode())
        body = bytes(msg).replace(b"\nFrom ", b"\n>From ")
        out.write(body + (b"" if body.endswith(b"\n") else b"\n") + b"\n")
    path.write_bytes(out.getvalue())
    return path


SCAN_LINES = ["Invoice number ZX-4471 was paid on 12 March 2024.",
              "The supplier Northwind Traders shipped 340 crates.",
              "Total amount due: 1,250.00 EUR"]


def text_image(lines=SCAN_LINES, size=(1224, 800)):
    """A PIL image of printed lines, like a scanned page (DejaVu if present, Pillow's font otherwise)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
    except OSError:
        font = ImageFont.load_default(size=28)
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((80, 80 + i * 60), line, fill=0, font=font)
    return img


def make_scan_pdf(path: Path, pages: int = 1, *, stray: str = "") -> Path:
    """An image-only PDF (each page one picture of printed text), optionally with a few stray chars."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    text_image().save(buf, "PNG")
    c = canvas.Canvas(str(path), pagesize=(612, 400))
    for _ in range(pages):
        c.drawImage(ImageReader(io.BytesIO(buf.getvalue())), 0, 0, width=612, height=400)
        if stray:
            c.setFont("Helvetica", 6)
            c.drawString(10, 10, stray)
        c.showPage()
    c.save()
    return path


def make_big_html(path: Path, sections: int) -> Path:
    """A long web page: a menu and footer around `sections` sections of a few paragraphs each."""
    body = "".join(f"<h2>Section {i}</h2>" + f"<p>{chapter_text(i)} The committee met again and agreed on item {i}.</p>" * 4
                   for i in range(1, sections + 1))
    path.write_text(HTML_PAGE.replace("<h2>Introduction</h2>", body + "<h2>Introduction</h2>"), encoding="utf-8")
    return path


def make_csv(path: Path, rows: int) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("id,name,amount,comment\n")
        for r in range(rows):
            fh.write(f'{r},item-{r},{r * 1.25:.2f},"note, with comma {r % 97}"\n')
    return path
