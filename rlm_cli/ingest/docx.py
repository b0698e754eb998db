"""DOCX reader (python-docx opens the package; we walk the XML ourselves for fidelity).

Output, in this order: header text ("[Header] ..."), the body in document order (paragraphs,
headings as "#"/"##", list items with "•"/"1." markers and indentation, tables as "a | b" rows,
text boxes right after the paragraph that anchors them, content controls), then footnotes
("[^1] ..."), endnotes ("[^e1] ..."), and footer text ("[Footer] ..."). Deleted revisions and field
instructions are skipped; the VML fallback copy of a text box (mc:Fallback) is not read twice.
"""
from __future__ import annotations

import io
import re
import zipfile

from .base import Parsed, ReadError

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
T, TAB, BR, CR, P, TBL, TR, TC = (W + x for x in ("t", "tab", "br", "cr", "p", "tbl", "tr", "tc"))
SDT, SDTCONTENT, TXBX, DELTEXT, INSTR = (W + x for x in ("sdt", "sdtContent", "txbxContent", "delText", "instrText"))
FNREF, ENREF, FNREF_MARK, ENREF_MARK = (W + x for x in ("footnoteReference", "endnoteReference", "footnoteRef", "endnoteRef"))
NOBREAK_HYPHEN, SOFT_HYPHEN, PPR, RPR, SECTPR = (W + x for x in ("noBreakHyphen", "softHyphen", "pPr", "rPr", "sectPr"))
SKIP = {DELTEXT, INSTR, MC_FALLBACK, PPR, RPR, FNREF_MARK, ENREF_MARK, W + "delInstrText"}

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENC_MARKERS = ("EncryptionInfo".encode("utf-16-le"), b"EncryptionInfo", "EncryptedPackage".encode("utf-16-le"))


def _check_package(source) -> None:
    if isinstance(source, (bytes, bytearray)):
        head = bytes(source[:4096])
        blob = source
    else:
        with open(source, "rb") as fh:
            head = fh.read(65536)
        blob = None
    if head.startswith(_OLE):
        data = head if blob is None else bytes(blob[:65536])
        if any(m in data for m in _ENC_MARKERS):
            raise ReadError("password-protected (encrypted) DOCX: not supported; save an unprotected copy")
        raise ReadError("not a DOCX: legacy Word .doc (OLE) file; save it as .docx")
    zsrc = io.BytesIO(blob) if blob is not None else source
    if not zipfile.is_zipfile(zsrc):
        raise ReadError("not a DOCX (not a ZIP package)")
    try:
        with zipfile.ZipFile(io.BytesIO(blob) if blob is not None else source) as z:
            names = set(z.namelist())
            mimetype = z.read("mimetype").decode("ascii", "replace").strip() if "mimetype" in names else ""
    except (zipfile.BadZipFile, OSError, RuntimeError) as e:
        raise ReadError(f"damaged DOCX ({e})") from None
    if "word/document.xml" in names or any(n.startswith("word/document") for n in names):
        return
    if "xl/workbook.xml" in names:
        raise ReadError("not a DOCX: an Excel workbook (XLSX)")
    if "ppt/presentation.xml" in names:
        raise ReadError("not a DOCX: a PowerPoint presentation (PPTX)")
    if mimetype.startswith("application/vnd.oasis.opendocument"):
        kind = {"text": "ODT", "spreadsheet": "ODS", "presentation": "ODP"}.get(mimetype.rsplit(".", 1)[-1], "OpenDocument")
        raise ReadError(f"not a DOCX: an OpenDocument file ({kind})")
    raise ReadError("not a DOCX (no word/document.xml in the ZIP)")


class _Numbering:
    def __init__(self, doc):
        self.fmt: dict[tuple[str, int], str] = {}
        self.style_num: dict[str, tuple[str, int]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            numbering = doc.part.numbering_part.element
        except Exception:
            numbering = None
        if numbering is not None:
            abstract = {}
            for an in numbering.findall(W + "abstractNum"):
                levels = {}
                for lvl in an.findall(W + "lvl"):
                    nf = lvl.find(W + "numFmt")
                    levels[int(lvl.get(W + "ilvl", "0"))] = nf.get(W + "val") if nf is not None else "decimal"
                abstract[an.get(W + "abstractNumId")] = levels
            for num in numbering.findall(W + "num"):
                a = num.find(W + "abstractNumId")
                if a is None:
                    continue
                for ilvl, f in abstract.get(a.get(W + "val"), {}).items():
                    self.fmt[(num.get(W + "numId"), ilvl)] = f
        try:
            styles = doc.styles.element
            for st in styles.findall(W + "style"):
                numpr = st.find(f"{PPR}/{W}numPr")
                if numpr is not None:
                    nid = numpr.find(W + "numId")
                    il = numpr.find(W + "ilvl")
                    if nid is not None:
                        self.style_num[st.get(W + "styleId")] = (nid.get(W + "val"), int(il.get(W + "val")) if il is not None else 0)
        except Exception:
            pass

    def marker(self, p) -> str:
        ppr = p.find(PPR)
        num_id, ilvl = None, 0
        if ppr is not None:
            numpr = ppr.find(W + "numPr")
            if numpr is not None:
                nid, il = numpr.find(W + "numId"), numpr.find(W + "ilvl")
                num_id = nid.get(W + "val") if nid is not None else None
                ilvl = int(il.get(W + "val")) if il is not None else 0
            elif (ps := ppr.find(W + "pStyle")) is not None and ps.get(W + "val") in self.style_num:
                num_id, ilvl = self.style_num[ps.get(W + "val")]
        if not num_id or num_id == "0":
            return ""
        fmt = self.fmt.get((num_id, ilvl), "bullet")
        indent = "  " * ilvl
        if fmt in ("bullet", "none"):
            return indent + "• "
        c = self.counters.setdefault(num_id, [0] * 10)
        c[ilvl] += 1
        for k in range(ilvl + 1, len(c)):
            c[k] = 0
        return f"{indent}{c[ilvl]}. "


class _Walker:
    def __init__(self, numbering: _Numbering | None):
        self.numbering = numbering

    def runs(self, el, buf: list[str], boxes: list) -> None:
        for child in el:
            tag = child.tag
            if tag == T:
                buf.append(child.text or "")
            elif tag in SKIP:
                continue
            elif tag == TAB:
                buf.append("\t")
            elif tag in (BR, CR):
                buf.append("\n")
            elif tag == NOBREAK_HYPHEN:
                buf.append("-")
            elif tag == FNREF:
                buf.append(f"[^{child.get(W + 'id')}]")
            elif tag == ENREF:
                buf.append(f"[^e{child.get(W + 'id')}]")
            elif tag == TXBX:
                boxes.append(child)
            elif tag in (P, TBL):  # rare: block content nested in inline content
                boxes.append(child)
            elif isinstance(tag, str):
                self.runs(child, buf, boxes)

    def paragraph(self, p, out: list[str]) -> None:
        buf: list[str] = []
        boxes: list = []
        self.runs(p, buf, boxes)
        text = "".join(buf)
        prefix = ""
        ppr = p.find(PPR)
        if ppr is not None and (ps := ppr.find(W + "pStyle")) is not None:
            m = re.fullmatch(r"(?i)heading\s*([1-9])", ps.get(W + "val") or "")
            if m and text.strip():
                prefix = "#" * int(m.group(1)) + " "
            elif (ps.get(W + "val") or "").lower() == "title" and text.strip():
                prefix = "# "
        if self.numbering is not None and text.strip():
            prefix = self.numbering.marker(p) or prefix
        out.append(prefix + text)
        for box in boxes:
            if box.tag == TXBX:
                self.block(box, out)
            elif box.tag == P:
                self.paragraph(box, out)
            else:
                self.table(box, out)

    def table(self, tbl, out: list[str]) -> None:
        for tr in tbl.iter(TR):
            if tr.getparent() is not tbl and tr.getparent().getparent() is not tbl:
                continue  # rows of nested tables are read inside their cell
            cells = []
            for tc in tr.findall(TC):
                sub: list[str] = []
                self.block(tc, sub)
                cells.append(" ".join(s.strip() for s in sub if s.strip()))
            out.append(" | ".join(cells))

    def block(self, el, out: list[str]) -> None:
        for child in el:
            tag = child.tag
            if tag == P:
                self.paragraph(child, out)
            elif tag == TBL:
                self.table(child, out)
            elif tag == SDT:
                content = child.find(SDTCONTENT)
                if content is not None:
                    self.block(content, out)
            elif tag in (SECTPR, MC_FALLBACK):
                continue
            elif isinstance(tag, str) and tag.endswith("}customXml") or tag == W + "ins" or tag == W + "smartTag":
                self.block(child, out)
            elif isinstance(tag, str) and tag.endswith("}AlternateContent"):
                choice = next((c for c in child if c.tag.endswith("}Choice")), None)
                if choice is not None:
                    self.block(choice, out)


def _part_element(part):
    el = getattr(part, "element", None)
    if el is not None:
        return el
    from lxml import etree

    return etree.fromstring(part.blob)


def read_docx(source) -> Parsed:
    _check_package(source)
    import docx

    try:
        doc = docx.Document(io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source)
    except Exception as e:  # python-docx raises ValueError, KeyError, lxml errors...
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ReadError(f"damaged DOCX ({msg})") from None
    walker = _Walker(_Numbering(doc))
    body: list[str] = []
    walker.block(doc.element.body, body)

    headers, footers, footnotes, endnotes = [], [], [], []
    nonote = _Walker(None)
    for rel in sorted(doc.part.rels.values(), key=lambda r: str(getattr(r, "target_ref", ""))):
        if rel.is_external:
            continue
        rt = rel.reltype.rsplit("/", 1)[-1]
        if rt not in ("header", "footer", "footnotes", "endnotes"):
            continue
        try:
            el = _part_element(rel.target_part)
        except Exception:
            continue
        if rt in ("header", "footer"):
            lines: list[str] = []
            nonote.block(el, lines)
            text = "\n".join(l for l in lines if l.strip())
            target = headers if rt == "header" else footers
            if text and text not in target:
                target.append(text)
        else:
            tag = "footnote" if rt == "footnotes" else "endnote"
            mark = "^" if tag == "footnote" else "^e"
            for note in el.findall(W + tag):
                if note.get(W + "type") in ("separator", "continuationSeparator", "continuationNotice"):
                    continue
                lines = []
                nonote.block(note, lines)
                text = "\n".join(l.strip() for l in lines if l.strip())
                if text:
                    (footnotes if tag == "footnote" else endnotes).append(f"[{mark}{note.get(W + 'id')}] {text}")

    out: list[str] = []
    out.extend(f"[Header] {h}" for h in headers)
    out.extend(body)
    if footnotes:
        out.append("")
        out.append("[Footnotes]")
        out.extend(footnotes)
    if endnotes:
        out.append("")
        out.append("[Endnotes]")
        out.extend(endnotes)
    out.extend(f"[Footer] {f}" for f in footers)
    text = "\n".join(out).strip("\n")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Parsed(text, "docx", [], [], {"paragraphs": len(body)})
