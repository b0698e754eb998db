"""URL sources: fetched by the host (never by the sandbox) with httpx, then read like files.

- Timeouts: connect CONNECT_TIMEOUT s, then READ_TIMEOUT s without data (`fetch_timeout` overrides
  both); at most MAX_REDIRECTS redirects.
- Size cap `max_bytes` (`--max-download`, default 200 MB): refused from Content-Length before
  downloading, and checked while streaming (decompressed bytes, so gzip bombs stop too).
- Kind: the content is sniffed first (a PDF served as text/html is a PDF); for text-like bodies
  the Content-Type chooses HTML / CSV / TSV / e-mail / plain text; the URL path's extension helps
  as a file name would.
- Cache: responses with an ETag or Last-Modified are cached through the parse cache (parsed text,
  keyed by URL and reader options); the next run revalidates with If-None-Match /
  If-Modified-Since and a 304 reuses the cached text. URLs with credentials are never cached.
- Errors are one line (ReadError -> exit 3): HTTP 404 Not Found, TLS error, too large, timeout,
  unsupported content type, cannot connect.
- Names: the URL without user:password and with secret-looking query values masked.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from .base import NullProgress, Parsed, ReadError, ReadOptions

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
MAX_REDIRECTS = 10
_SECRET_PARAM = re.compile(r"(token|key|secret|sig|signature|password|passwd|auth|credential|session|code)", re.I)


def display_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    if ":" in (parts.hostname or "") and not host.startswith("["):
        host = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*/:")
    return urlunsplit((parts.scheme.lower(), host, parts.path, query, ""))


@dataclass
class Response:
    status: int  # 200, or 304 (not modified)
    data: bytes
    content_type: str
    url: str  # after redirects
    etag: str | None
    last_modified: str | None


def _client(timeout: float | None):
    import httpx

    from .. import __version__

    t = httpx.Timeout(timeout or READ_TIMEOUT, connect=min(timeout or CONNECT_TIMEOUT, CONNECT_TIMEOUT))
    return httpx.Client(timeout=t, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                        headers={"User-Agent": f"rlm-cli/{__version__}", "Accept": "*/*"})


def fetch(url: str, *, max_bytes: int | None, timeout: float | None = None, progress=None,
          validators: dict | None = None) -> Response:
    """GET `url`. Raises ReadError with a one-line cause."""
    import httpx

    progress = progress or NullProgress()
    headers = {}
    if validators:
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
    try:
        with _client(timeout) as client, client.stream("GET", url, headers=headers) as r:
            if r.status_code == 304 and validators:
                return Response(304, b"", "", str(r.url), validators.get("etag"), validators.get("last_modified"))
            if r.status_code >= 400:
                raise ReadError(f"HTTP {r.status_code} {r.reason_phrase}".rstrip())
            data = _body(r, max_bytes, progress)
            ctype = r.headers.get("content-type", "").split(";")[0].strip().lower()
            return Response(r.status_code, data, ctype, str(r.url), r.headers.get("etag"), r.headers.get("last-modified"))
    except httpx.HTTPError as e:
        raise ReadError(_cause(e, timeout)) from None
    except UnicodeError as e:  # an unencodable host name
        raise ReadError(f"invalid URL ({e})") from None


def _body(r, max_bytes: int | None, progress) -> bytes:
    from . import _fmt_bytes

    length = r.headers.get("content-length")
    total = int(length) if length and length.isdigit() else None
    if max_bytes is not None and total is not None and total > max_bytes and "content-encoding" not in r.headers:
        raise ReadError(f"too large: {_fmt_bytes(total)} (the limit is {_fmt_bytes(max_bytes)}; raise it with --max-download)")
    chunks, got = [], 0
    progress.start(total or 0, "bytes", "Downloading")
    try:
        for chunk in r.iter_bytes(1 << 16):
            got += len(chunk)
            if max_bytes is not None and got > max_bytes:
                raise ReadError(f"too large: more than {_fmt_bytes(max_bytes)} (the limit; raise it with --max-download)")
            chunks.append(chunk)
            progress.advance(len(chunk))
    finally:
        progress.finish()
    return b"".join(chunks)


def _cause(e, timeout: float | None) -> str:
    import httpx

    msg = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
    if isinstance(e, httpx.ConnectTimeout):
        return f"connection timed out after {min(timeout or CONNECT_TIMEOUT, CONNECT_TIMEOUT):g} s"
    if isinstance(e, httpx.TimeoutException):
        return f"timed out: no data for {timeout or READ_TIMEOUT:g} s"
    if isinstance(e, httpx.TooManyRedirects):
        return f"too many redirects (more than {MAX_REDIRECTS})"
    if isinstance(e, httpx.UnsupportedProtocol):
        return f"unsupported URL scheme ({msg})"
    low = msg.lower()
    if "certificate" in low or "ssl" in low or "tls" in low:
        return f"TLS error ({msg})"
    if isinstance(e, httpx.ConnectError):
        if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low or "name resolution" in low:
            return "cannot resolve the host name"
        if "refused" in low:
            return "cannot connect (connection refused)"
        return f"cannot connect ({msg})"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"the server broke the connection ({msg})"
    return f"download failed ({type(e).__name__}: {msg})"


def _file_name(url: str) -> str:
    return posixpath.basename(unquote(urlsplit(url).path)) or "index.html"


def read_url(url: str, opts: ReadOptions, progress=None, *, use_cache: bool = True, max_bytes: int | None = None,
             timeout: float | None = None) -> tuple[Parsed, int]:
    """Fetch and read one URL; returns (parsed, downloaded bytes). Raises ReadError."""
    from . import cache

    parts = urlsplit(url)
    if not parts.hostname:
        raise ReadError("invalid URL (no host)")
    cacheable = use_cache and not (parts.username or parts.password) and not opts.password
    key = display_url(url)
    hit = cache.load_url(key, _variant(opts)) if cacheable else None
    resp = fetch(url, max_bytes=max_bytes, timeout=timeout, progress=progress,
                 validators=hit.validators if hit else None)
    if resp.status == 304 and hit:
        hit.parsed.info["revalidated"] = True
        return hit.parsed, hit.size
    if not resp.data:
        raise ReadError(f"empty response (HTTP {resp.status})")
    parsed = _parse(resp, opts)
    if cacheable and (resp.etag or resp.last_modified):
        cache.store_url(key, _variant(opts), {"etag": resp.etag, "last_modified": resp.last_modified}, parsed, len(resp.data))
    return parsed, len(resp.data)


def _variant(opts: ReadOptions) -> str:
    return "url:" + opts.variant("pdf")


def _parse(resp: Response, opts: ReadOptions) -> Parsed:
    from .readers import read_bytes

    try:
        parsed = read_bytes(_file_name(resp.url), resp.data, opts, None, content_type=resp.content_type)
    except ReadError as e:
        if e.cause.startswith("binary file") and resp.content_type:
            raise ReadError(f"unsupported content type {resp.content_type} ({e.cause.split('(', 1)[-1].split(')')[0]})") from None
        raise
    declared = _declared_kind(resp.content_type)
    if declared and declared != parsed.kind and not (declared == "text" and parsed.kind in ("csv", "tsv", "html")):
        parsed.warnings.insert(0, f"served as {resp.content_type} but the content is {parsed.kind}: read as {parsed.kind}")
    return parsed


def _declared_kind(ctype: str) -> str | None:
    table = {
        "application/pdf": "pdf", "text/html": "html", "application/xhtml+xml": "html", "text/plain": "text",
        "text/csv": "csv", "application/epub+zip": "epub", "message/rfc822": "email",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation": "pptx",
    }
    if ctype in table:
        return table[ctype]
    if ctype.startswith("image/"):
        return "image"
    return None
