"""URL sources against a local HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlm_cli.errors import InputError
from rlm_cli.ingest import fetch, load_sources
from tests import ingest_fixtures as fx
from tests import kind_fixtures as kf


class Site:
    """Routes: path -> (status, headers, body) or a callable(handler)."""

    def __init__(self):
        self.routes: dict = {}
        self.log: list[tuple[str, dict]] = []
        self.stop = threading.Event()

    def handler(self):
        site = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                site.log.append((self.path, dict(self.headers)))
                route = site.routes.get(self.path.split("?")[0])
                if route is None:
                    return self._send(404, {"Content-Type": "text/plain"}, b"not here")
                if callable(route):
                    return route(self)
                self._send(*route)

            def _send(self, status, headers, body):
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        return H


@pytest.fixture
def site():
    s = Site()
    server = ThreadingHTTPServer(("127.0.0.1", 0), s.handler())
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    s.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield s
    s.stop.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_ocr(monkeypatch):
    monkeypatch.setattr("rlm_cli.ingest.ocr.available", lambda: False)


def test_html_page_through_a_url(site):
    site.routes["/report"] = (200, {"Content-Type": "text/html; charset=utf-8"}, kf.HTML_PAGE.encode())
    ctx = load_sources([site.url + "/report"])
    [src] = ctx.sources
    assert src.kind == "html" and src.name == site.url + "/report"
    assert "Module prices fell to 11 cents per watt" in ctx.text and "Cookie policy" not in ctx.text
    assert ctx.locate(ctx.text.index("11 cents")) == f"{src.name} § Costs"
    assert site.log[0][1].get("User-Agent", "").startswith("rlm-cli/")


def test_redirects_followed_and_limited(site):
    site.routes["/old"] = (301, {"Location": "/new"}, b"")
    site.routes["/new"] = (200, {"Content-Type": "text/plain"}, b"moved text here")
    assert load_sources([site.url + "/old"]).text == "moved text here"
    site.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    with pytest.raises(InputError, match=r"/loop: too many redirects \(more than 10\)"):
        load_sources([site.url + "/loop"])


def test_http_errors_are_one_line_input_errors(site, cli):
    r = cli(["ingest", site.url + "/missing"])
    assert r.exit_code == 3
    assert f"{site.url}/missing: HTTP 404 Not Found" in r.stderr and r.stderr.count("\n") <= 2
    site.routes["/boom"] = (500, {"Content-Type": "text/plain"}, b"oops")
    with pytest.raises(InputError, match="HTTP 500"):
        load_sources([site.url + "/boom"])


def test_size_cap_from_content_length_and_while_streaming(site, cli):
    def huge_declared(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(500_000_000))
        h.end_headers()
        h.wfile.write(b"x" * 1000)  # the client must give up before reading 500 MB

    def huge_chunked(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        chunk = b"y" * 65536
        try:
            for _ in range(64):  # 4 MB, no length announced
                h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            pass  # the client hung up, as it should

    site.routes["/declared"] = huge_declared
    site.routes["/chunked"] = huge_chunked
    r = cli(["ingest", site.url + "/declared"])
    assert r.exit_code == 3 and "too large: 500.0 MB (the limit is 200.0 MB; raise it with --max-download)" in r.stderr
    r = cli(["ingest", site.url + "/chunked", "--max-download", "1MB"])
    assert r.exit_code == 3 and "too large: more than 1.0 MB" in r.stderr
    r = cli(["ingest", site.url + "/chunked", "--max-download", "10MB", "--json"])
    assert r.exit_code == 0 and r.json()["sources"][0]["chars"] == 64 * 65536
    r = cli(["ingest", site.url + "/chunked", "--max-download", "lots"])
    assert r.exit_code == 2


def test_slow_body_times_out(site):
    def slow(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.write(b"start")
        h.wfile.flush()
        site.stop.wait(30)  # never finishes while the test runs

    site.routes["/slow"] = slow
    t0 = time.monotonic()
    with pytest.raises(InputError, match=r"/slow: timed out: no data for 0.5 s"):
        load_sources([site.url + "/slow"], fetch_timeout=0.5)
    assert time.monotonic() - t0 < 20  # it gave up on its own, long before the server would finish


def test_content_is_sniffed_whatever_the_type_says(site, tmp_path):
    pdf = fx.make_pdf(tmp_path / "d.pdf", 2).read_bytes()
    site.routes["/doc"] = (200, {"Content-Type": "text/html"}, pdf)
    ctx = load_sources([site.url + "/doc"])
    [src] = ctx.sources
    assert src.kind == "pdf" and len(src.pages) == 2 and "PG0002" in ctx.text
    assert any("served as text/html but the content is pdf" in w for w in ctx.warnings)
    deck = kf.make_pptx(tmp_path / "d.pptx", 2).read_bytes()
    site.routes["/download"] = (200, {"Content-Type": "application/octet-stream"}, deck)
    assert load_sources([site.url + "/download"]).sources[0].kind == "pptx"
    site.routes["/data"] = (200, {"Content-Type": "text/csv"}, b"a,b\n1,2\n")
    ctx = load_sources([site.url + "/data"])
    assert ctx.sources[0].kind == "csv" and ctx.text == "a\tb\n1\t2"


def test_unsupported_content_type(site):
    site.routes["/movie"] = (200, {"Content-Type": "video/mp4"}, b"\x00\x00\x00\x18ftypmp42" + bytes(500))
    with pytest.raises(InputError, match=r"/movie: unsupported content type video/mp4 \(binary data"):
        load_sources([site.url + "/movie"])


def test_etag_revalidation_uses_the_cache(site):
    body = kf.HTML_PAGE.encode()
    hits = {"200": 0, "304": 0}

    def page(h):
        if h.headers.get("If-None-Match") == '"v1"':
            hits["304"] += 1
            return h._send(304, {"ETag": '"v1"'}, b"")
        hits["200"] += 1
        h._send(200, {"Content-Type": "text/html", "ETag": '"v1"'}, body)

    site.routes["/page"] = page
    first = load_sources([site.url + "/page"])
    second = load_sources([site.url + "/page"])
    assert hits == {"200": 1, "304": 1}
    assert second.text == first.text and "11 cents" in second.text
    load_sources([site.url + "/page"], use_cache=False)
    assert hits["200"] == 2 and "If-None-Match" not in site.log[-1][1]


def test_last_modified_revalidation(site):
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"

    def page(h):
        if h.headers.get("If-Modified-Since") == stamp:
            return h._send(304, {}, b"")
        h._send(200, {"Content-Type": "text/plain", "Last-Modified": stamp}, b"dated text")

    site.routes["/dated"] = page
    assert load_sources([site.url + "/dated"]).text == "dated text"
    assert load_sources([site.url + "/dated"]).text == "dated text"
    assert site.log[-1][1].get("If-Modified-Since") == stamp


def test_tls_and_connection_errors(site):
    port = site.url.rsplit(":", 1)[1]
    with pytest.raises(InputError, match=r"TLS error"):
        load_sources([f"https://127.0.0.1:{port}/page"])  # a plain-HTTP server spoken to over TLS
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    free = s.getsockname()[1]
    s.close()
    with pytest.raises(InputError, match=r"cannot connect \(connection refused\)"):
        load_sources([f"http://127.0.0.1:{free}/x"])


def test_credentials_and_secret_query_values_are_not_shown():
    assert fetch.display_url("https://user:pw@example.org/a?token=abc&page=2") == "https://example.org/a?token=***&page=2"
    assert fetch.display_url("HTTP://Example.org:8080/x") == "http://example.org:8080/x"


def test_url_with_a_scripted_question(site, cli, script):
    site.routes["/notes.txt"] = (200, {"Content-Type": "text/plain"}, b"apple apple apple")
    model = script([{"turn": 1, "when": "Question", "reply": "```repl\nFINAL(str(context.count('apple')))\n```"}])
    r = cli(["ask", site.url + "/notes.txt", "how many apples?", "-m", model])
    assert r.exit_code == 0, r.stderr
    assert r.stdout == "3\n"


def test_download_progress_bar_on_a_terminal(site):
    import io

    from rich.console import Console

    from rlm_cli.ingest.progress import RichProgress

    def big(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/plain")
        h.send_header("Content-Length", str(40 * 65536))
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"z" * 65536)

    site.routes["/big.txt"] = big
    buf = io.StringIO()
    bar = RichProgress(Console(file=buf, force_terminal=True, width=100), delay=0.0)
    ctx = load_sources([site.url + "/big.txt"], progress=bar)
    assert len(ctx.text) == 40 * 65536
    out = buf.getvalue()
    assert "Downloading" in out and "/2.6 MB" in out  # MB done of the announced total
    assert not bar.shown  # transient: gone when ingestion ends
    piped = io.StringIO()
    load_sources([site.url + "/big.txt"], progress=RichProgress(Console(file=piped), delay=0.0), use_cache=False)
    assert piped.getvalue() == ""  # no bar without a terminal


def test_parse_size():
    from rlm_cli.ingest.base import parse_size

    assert parse_size("200MB") == 200_000_000 and parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("500k") == 500_000 and parse_size("2MiB") == 2 * 1024 * 1024 and parse_size("123") == 123
    with pytest.raises(ValueError):
        parse_size("lots")
