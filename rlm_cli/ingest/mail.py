"""E-mail: .eml (one RFC 822 message) and .mbox (many), with the standard library only.

Each message is written as its headers (From, To, Cc, Date, Subject, decoded), a blank line and
its text body (text/plain preferred; an HTML-only body goes through the HTML reader), followed by
one line per attachment. Attachments of supported kinds (PDF, DOCX, XLSX, text...) become
sub-sources named `mail.eml › report.pdf` or `box.mbox › msg 3 › report.pdf`; others are only
listed. In an mbox, messages are separated by a blank line and each is a span ("box.mbox msg 3").
"""
from __future__ import annotations

import email
import email.policy
import os
import tempfile

from .base import Parsed, ReadError, clean_label

HEADERS = ("From", "To", "Cc", "Date", "Subject")
MESSAGE_SEP = "\n\n"
MAX_ATTACHMENT = 200_000_000


def _header(msg, name: str) -> str:
    try:
        value = msg.get(name)
    except Exception:  # a malformed header the parser could not decode
        value = msg.get_all(name, [None])[0] if hasattr(msg, "get_all") else None
    return " ".join(str(value).split()) if value is not None else ""


def _part_text(part) -> str:
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError, ValueError):
        payload = part.get_payload(decode=True) or b""
        text = payload.decode(part.get_content_charset() or "utf-8", "replace") if isinstance(payload, bytes) else str(payload)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == "text/html":
        from . import html

        try:
            text = html.to_text(text, extract_main=False)[0]
        except ReadError:
            text = ""
    return text.strip("\n")


def _body(msg) -> str:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is None and not msg.is_multipart() and msg.get_content_maintype() == "text":
        part = msg
    return _part_text(part) if part is not None else ""


def _parts(msg):
    """The non-body parts of msg: ('inline', text) for unnamed text parts and attached messages,
    ('file', name, bytes, content type) for attachments; multipart containers are opened."""
    try:
        parts = list(msg.iter_attachments()) if msg.is_multipart() else []
    except Exception:
        parts = []
    for k, part in enumerate(parts, 1):
        yield from _leaf(part, k, 0)


def _leaf(part, k: int, depth: int):
    ctype, name = part.get_content_type(), part.get_filename()
    if ctype == "message/rfc822":
        inner = part.get_payload()
        inner = inner[0] if isinstance(inner, list) and inner else inner
        if inner is not None and not isinstance(inner, (str, bytes)):
            yield "inline", "[Attached message]\n" + _headers_and_body(inner)
    elif part.is_multipart():
        if depth < 3:
            for j, sub in enumerate(part.iter_parts(), 1):
                yield from _leaf(sub, j, depth + 1)
    elif part.get_content_maintype() == "text" and not name:
        text = _part_text(part)
        if text.strip():
            yield "inline", text
    else:
        data = part.get_payload(decode=True) or b""
        yield "file", clean_label(name or f"attachment-{k}", 80), data if isinstance(data, bytes) else b"", ctype


def _headers_and_body(msg) -> str:
    lines = [f"{h}: {v}" for h in HEADERS if (v := _header(msg, h))]
    body = _body(msg)
    return "\n".join(lines) + ("\n\n" + body if body else "")


def message_text(msg, read_child, prefix: str, children: list, warnings: list) -> str:
    """Headers, body and attachment lines of one message; readable attachments go to `children`."""
    text = _headers_and_body(msg)
    notes = []
    for extra in _parts(msg):
        if extra[0] == "inline":
            text += "\n\n" + extra[1]
            continue
        _, name, data, ctype = extra
        suffix = f"{prefix}{name}"
        if len(data) > MAX_ATTACHMENT:
            notes.append(f"[Attachment: {name} ({ctype}, {len(data):,} bytes): too large, not read]")
            continue
        parsed, why = read_child(name, data) if data else (None, "empty")
        if parsed is not None:
            children.append((suffix, parsed, len(data)))
            notes.append(f"[Attachment: {name} ({parsed.kind}, {len(data):,} bytes): read as source “{suffix}”]")
        else:
            notes.append(f"[Attachment: {name} ({ctype}, {len(data):,} bytes): not read ({why})]")
    if notes:
        text += "\n\n" + "\n".join(notes)
    return text.strip("\n")


def _parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def read_email(data: bytes, read_child) -> Parsed:
    msg = _parse(data)
    children, warnings = [], []
    text = message_text(msg, read_child, "", children, warnings)
    if not text.strip():  # MIME headers only: show the raw message rather than nothing
        from .readers import read_text

        text = read_text(data).text
    return Parsed(text, "email", [], warnings, {}, unit="message", children=children)


def read_mbox(source, read_child, progress=None) -> Parsed:
    import mailbox

    tmp = None
    if isinstance(source, (bytes, bytearray)):
        fd, tmp = tempfile.mkstemp(prefix="rlm-mbox-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(source)
        source = tmp
    try:
        box = mailbox.mbox(source, create=False)
        try:
            keys = list(box.iterkeys())
            if progress is not None:
                progress.start(len(keys), "messages", "Reading mailbox")
            parsed = _messages(box, keys, read_child, progress)
        finally:
            box.close()
    except mailbox.Error as e:
        raise ReadError(f"damaged mbox ({e})") from None
    finally:
        if tmp:
            os.unlink(tmp)
    return parsed


def _messages(box, keys, read_child, progress) -> Parsed:
    parts, spans, pos, children, warnings = [], [], 0, [], []
    for n, key in enumerate(keys, 1):
        try:
            text = message_text(_parse(box.get_bytes(key)), read_child, f"msg {n} › ", children, warnings)
        except Exception as e:  # one broken message must not sink the mailbox
            warnings.append(f"msg {n}: unreadable ({type(e).__name__})")
            text = ""
        if parts:
            parts.append(MESSAGE_SEP)
            pos += len(MESSAGE_SEP)
        spans.append((n, pos, pos + len(text), f"msg {n}", 0))
        parts.append(text)
        pos += len(text)
        if progress is not None:
            progress.advance(1)
    if not spans:
        raise ReadError("no messages in the mbox")
    return Parsed("".join(parts), "mbox", spans, warnings, {"messages": len(spans)}, unit="message", children=children)
