"""Fixture generators for the ingestion tests and benchmark (nothing binary is committed).

PDFs are drawn with reportlab (text known in advance), encrypted with pypdf's writer; DOCX files
are built with python-docx, then footnotes, endnotes and a text box are injected into the XML.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path


def page_text(i: int) -> str:
    return f"Page {i} marker PG{i:04d}. The quick brown fox jumps over the lazy dog."


def make_pdf(path: Path, pages: int = 3, *, image_pages: tuple[int, ...] = (), blank_pages: tuple[int, ...] = (),
             lines_per_page: int = 1, line_factory=None) -> Path:
    """A PDF whose page i (1-based) says page_text(i); image_pages have only an image."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=(612, 792))
    c.setPageCompression(1)
    img = None
    for i in range(1, pages + 1):
        if i in image_pages:
            if img is None:
                img = ImageReader(io.BytesIO(_png_bytes()))
            c.drawImage(img, 100, 400, width=200, height=200)
        elif i not in blank_pages:
            c.setFont("Helvetica", 11)
            y = 740
            c.drawString(72, y, page_text(i))
            for k in range(1, lines_per_page):
                y -= 14
                if y < 40:
                    break
                c.drawString(72, y, line_factory(i, k) if line_factory else f"Line {k} of page {i}: lorem ipsum dolor sit amet.")
        c.showPage()
    c.save()
    return path


def _png_bytes() -> bytes:
    import struct
    import zlib

    w = h = 8
    raw = b"".join(b"\x00" + bytes([(x * 32) % 256, (y * 32) % 256, 128] * 1)[:3] * 1 for y in range(h) for x in range(1))
    raw = b"".join(b"\x00" + b"".join(bytes([(x * 32) % 256, (y * 32) % 256, 128]) for x in range(w)) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def encrypt_pdf(src: Path, dst: Path, *, user_password: str = "", owner_password: str = "owner",
                algorithm: str = "AES-128") -> Path:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(str(src)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm=algorithm)
    with open(dst, "wb") as fh:
        writer.write(fh)
    return dst


def truncate(src: Path, dst: Path, keep: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def strip_xref(src: Path, dst: Path) -> Path:
    """Damage the cross-reference table and trailer (recoverable by a reconstructing parser)."""
    data = src.read_bytes()
    i = data.rfind(b"xref")
    dst.write_bytes(data[:i] + b"garbage\n%%EOF\n")
    return dst


W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
    'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)

TEXTBOX_RUN = f"""<w:r {NS}><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><wp:anchor distT="0" distB="0" distL="0" distR="0" simplePos="0" relativeHeight="1" behindDoc="0" locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/><wp:positionH relativeFrom="column"><wp:posOffset>0</wp:posOffset></wp:positionH><wp:positionV relativeFrom="paragraph"><wp:posOffset>0</wp:posOffset></wp:positionV><wp:extent cx="914400" cy="457200"/><wp:wrapNone/><wp:docPr id="99" name="Text Box 1"/><a:graphic><a:graphicData uri="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp><wps:txbx><w:txbxContent><w:p><w:r><w:t>TEXTBOX-CONTENT inside a box</w:t></w:r></w:p></w:txbxContent></wps:txbx><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox><w:txbxContent><w:p><w:r><w:t>TEXTBOX-CONTENT inside a box</w:t></w:r></w:p></w:txbxContent></v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>"""

FOOTNOTES_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:footnotes {NS}><w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> FOOTNOTE-ONE text of the note.</w:t></w:r></w:p></w:footnote></w:footnotes>"""

ENDNOTES_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:endnotes {NS}><w:endnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:endnote><w:endnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p></w:endnote><w:endnote w:id="1"><w:p><w:r><w:endnoteRef/></w:r><w:r><w:t xml:space="preserve"> ENDNOTE-ONE closing remark.</w:t></w:r></w:p></w:endnote></w:endnotes>"""


def make_docx(path: Path, *, extra_paragraphs: int = 0) -> Path:
    """DOCX with heading, paragraphs, bullet and numbered lists, a table, header, footer,
    a footnote, an endnote and a text box (the last three injected into the XML)."""
    import docx
    from docx.opc.constants import RELATIONSHIP_TYPE as RT
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part
    from docx.oxml import parse_xml

    d = docx.Document()
    sec = d.sections[0]
    sec.header.paragraphs[0].text = "HEADER-TEXT Confidential"
    sec.footer.paragraphs[0].text = "FOOTER-TEXT Page footer"
    d.add_heading("Document Title", level=1)
    p = d.add_paragraph("First paragraph BODY-ONE with a note")
    p._p.append(parse_xml(f'<w:r {NS}><w:footnoteReference w:id="1"/></w:r>'))
    p._p.append(parse_xml(f'<w:r {NS}><w:endnoteReference w:id="1"/></w:r>'))
    d.add_paragraph("Bullet item one", style="List Bullet")
    d.add_paragraph("Bullet item two", style="List Bullet")
    d.add_paragraph("Numbered step one", style="List Number")
    d.add_paragraph("Numbered step two", style="List Number")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Supplier", "Deadline"
    t.cell(1, 0).text, t.cell(1, 1).text = "ACME-CORP", "Q3-MISSED"
    p = d.add_paragraph("Paragraph with a box: ")
    p._p.append(parse_xml(TEXTBOX_RUN))
    d.add_paragraph("Last paragraph BODY-LAST.")
    for i in range(extra_paragraphs):
        d.add_paragraph(f"Filler paragraph {i}: the quick brown fox jumps over the lazy dog, again and again.")
    pkg = d.part.package
    fn = Part(PackURI("/word/footnotes.xml"),
              "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",
              FOOTNOTES_XML.encode("utf-8"), pkg)
    en = Part(PackURI("/word/endnotes.xml"),
              "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml",
              ENDNOTES_XML.encode("utf-8"), pkg)
    d.part.relate_to(fn, RT.FOOTNOTES)
    d.part.relate_to(en, RT.ENDNOTES)
    d.save(str(path))
    return path


def make_xlsx_renamed(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>')
        z.writestr("xl/workbook.xml", "<workbook/>")
    return path


def make_odt_renamed(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", "<office:document-content/>")
    return path


def make_encrypted_docx(path: Path) -> Path:
    """What Word writes for a password-protected DOCX: an OLE compound file, not a ZIP."""
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptionInfo".encode("utf-16-le") + bytes(1000))
    return path
