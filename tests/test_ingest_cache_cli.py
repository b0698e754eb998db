"""Parse cache, progress reporting and the `rlm ingest` / `rlm cache` commands."""
from __future__ import annotations

import io
import json
import os
from concurrent.futures import ProcessPoolExecutor

import multiprocessing

import pytest
import typer
from typer.testing import CliRunner

from rlm_cli.errors import InputError
from rlm_cli.ingest import cache, load_sources
from tests import ingest_fixtures as fx


@pytest.fixture(autouse=True)
def _rlm_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "rlm_home"))
    monkeypatch.setattr("rlm_cli.ingest.ocr.available", lambda: False)  # as without the [ocr] extra


@pytest.fixture
def counted(monkeypatch):
    from rlm_cli.ingest import readers

    calls = []
    real = readers.read_kind

    def wrapper(det, source, *a, **kw):
        calls.append((source, det.kind))
        return real(det, source, *a, **kw)

    monkeypatch.setattr(readers, "read_kind", wrapper)
    return calls


def test_cache_hit_skips_parsing(tmp_path, counted):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 6, image_pages=(3,))
    docx = fx.make_docx(tmp_path / "doc.docx")
    first = load_sources([str(pdf), str(docx)])
    assert len(counted) == 2
    second = load_sources([str(pdf), str(docx)])
    assert len(counted) == 2, "second run must come from the cache"
    assert second.text == first.text
    assert [s.as_dict() for s in second.sources] == [s.as_dict() for s in first.sources]
    assert second.warnings == first.warnings
    assert cache.info()["entries"] == 2
    # another engine is another cache entry
    load_sources([str(pdf)], pdf_engine="pypdf")
    assert len(counted) == 3


def test_cache_invalidated_by_content_change(tmp_path, counted):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 2)
    load_sources([str(pdf)])
    st = os.stat(pdf)
    fx.make_pdf(tmp_path / "other.pdf", 3)
    data = (tmp_path / "other.pdf").read_bytes()
    pdf.write_bytes(data)
    os.utime(pdf, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: only size/hash betray it
    ctx = load_sources([str(pdf)])
    assert len(counted) == 2 and len(ctx.sources[0].pages) == 3


def test_same_size_and_mtime_but_new_content_is_detected(tmp_path, counted):
    p = tmp_path / "a.docx"
    fx.make_docx(p)
    load_sources([str(p)])
    st = os.stat(p)
    data = bytearray(p.read_bytes())
    # flip bytes inside a stored (uncompressed-name) region: same size, same mtime, new hash
    i = data.find(b"word/document.xml")
    data[i:i + 4] = b"WORD"
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size
    try:
        load_sources([str(p)])
    except InputError:
        pass  # the mangled file may well be unreadable: what matters is that it was re-parsed
    assert len(counted) == 2


def test_no_cache_and_text_files_not_cached(tmp_path, counted):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 2)
    txt = tmp_path / "t.txt"
    txt.write_text("hello")
    load_sources([str(pdf), str(txt)], use_cache=False)
    load_sources([str(pdf), str(txt)], use_cache=False)
    assert len(counted) == 4
    assert cache.info()["entries"] == 0


def test_corrupt_entry_is_a_miss(tmp_path, counted):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 2)
    load_sources([str(pdf)])
    [entry] = list(cache.cache_root().glob("*.json"))
    entry.write_text("{not json")
    ctx = load_sources([str(pdf)])
    assert "PG0002" in ctx.text and len(counted) == 2
    assert json.loads(entry.read_text())["text"] == ctx.text[ctx.sources[0].start:ctx.sources[0].end]


def _load_in_child(path):
    ctx = load_sources([path])
    return ctx.text


def test_concurrent_writers(tmp_path):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 30)
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as ex:
        texts = list(ex.map(_load_in_child, [str(pdf)] * 8))
    assert len(set(texts)) == 1
    names = [p.name for p in cache.cache_root().iterdir()]
    assert len(names) == 1 and not any(n.startswith(".tmp-") for n in names)
    assert load_sources([str(pdf)]).text == texts[0]


def test_cache_clear_and_info():
    root = cache.cache_root()
    root.mkdir(parents=True)
    (root / "x.json").write_text("{}")
    assert cache.info() == {"path": str(root), "entries": 1, "bytes": 2}
    assert cache.clear() == 1 and cache.info()["entries"] == 0


# ------------------------------------------------------------------------------------ progress
class Recorder:
    def __init__(self):
        self.events = []

    def start(self, total, unit, description):
        self.events.append(("start", total, unit))

    def advance(self, n=1):
        self.events.append(("advance", n))

    def finish(self):
        self.events.append(("finish",))


def test_progress_events(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.txt").write_text(str(i))
    rec = Recorder()
    load_sources([str(tmp_path)], progress=rec)
    assert rec.events == [("start", 3, "files"), ("advance", 1), ("advance", 1), ("advance", 1), ("finish",)]
    rec = Recorder()
    load_sources([str(fx.make_pdf(tmp_path / "p.pdf", 4))], progress=rec, use_cache=False)
    assert rec.events[0] == ("start", 4, "pages") and sum(e[1] for e in rec.events if e[0] == "advance") == 4
    assert rec.events[-1] == ("finish",)


def test_rich_progress_only_on_terminal_after_delay():
    from rich.console import Console

    from rlm_cli.ingest.progress import RichProgress

    buf = io.StringIO()
    p = RichProgress(Console(file=buf, force_terminal=True), delay=0.0)
    p.start(10, "pages", "Reading PDF")
    p.advance(3)
    assert p.shown
    p.finish()
    assert not p.shown

    slow = RichProgress(Console(file=io.StringIO(), force_terminal=True), delay=60)
    slow.start(10, "pages", "x")
    slow.advance(3)
    assert not slow.shown
    slow.finish()

    pipe = io.StringIO()
    quiet = RichProgress(Console(file=pipe), delay=0.0)
    quiet.start(10, "pages", "x")
    quiet.advance(3)
    quiet.finish()
    assert not quiet.shown and pipe.getvalue() == ""


# ------------------------------------------------------------------------------------ commands
@pytest.fixture
def app():
    from rlm_cli.commands.ingest import register

    a = typer.Typer()

    @a.callback()
    def _root():
        pass

    register(a)
    return a


def test_ingest_command_table(app, tmp_path):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 3, image_pages=(2,))
    (tmp_path / "n.txt").write_text("hello world\n")
    r = CliRunner().invoke(app, ["ingest", str(pdf), str(tmp_path / "n.txt")])
    assert r.exit_code == 0, r.output
    assert "doc.pdf" in r.output and "pdf" in r.output and "n.txt" in r.output
    assert "p.2: no text layer (scanned or image-only pages): install the [ocr] extra" in r.output
    assert "total" in r.output


def test_ingest_command_json(app, tmp_path):
    from rlm_cli.commands.ingest import load_encoding

    pdf = fx.make_pdf(tmp_path / "doc.pdf", 3)
    r = CliRunner().invoke(app, ["ingest", "--json", "--no-cache", str(pdf)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    [src] = data["sources"]
    assert src["kind"] == "pdf" and src["pages"] == 3 and src["chars"] > 0
    assert data["tokens_exact"] == (load_encoding() is not None)
    assert 0 < src["tokens"] < src["chars"]
    assert cache.info()["entries"] == 0  # --no-cache


def test_ingest_command_text_and_stdin(app):
    r = CliRunner().invoke(app, ["ingest", "--text"], input=b"caf\xe9 cr\xe8me\r\n" * 20)
    assert r.exit_code == 0, r.output
    assert r.output == "café crème\n" * 20  # exactly the input (decoded, LF newlines), no header


def test_ingest_command_error_propagates(app, tmp_path):
    r = CliRunner().invoke(app, ["ingest", str(tmp_path / "nope.pdf")])
    assert isinstance(r.exception, InputError) and "no such file" in str(r.exception)


def test_cache_commands(app, tmp_path):
    pdf = fx.make_pdf(tmp_path / "doc.pdf", 2)
    load_sources([str(pdf)])
    r = CliRunner().invoke(app, ["cache", "info", "--json"])
    assert json.loads(r.output)["entries"] == 1
    r = CliRunner().invoke(app, ["cache", "clear"])
    assert r.exit_code == 0 and "removed 1 cache entry" in r.output
    assert cache.info()["entries"] == 0


def test_token_count_fallback_estimate(monkeypatch):
    from rlm_cli.commands import ingest as cmd

    monkeypatch.setattr(cmd, "load_encoding", lambda: None)
    assert cmd.count_tokens(["x" * 400]) == ([100], False)


def test_token_count_big_text_chunked_matches():
    from rlm_cli.commands.ingest import count_tokens, load_encoding

    enc = load_encoding()
    if enc is None:
        pytest.skip("cl100k_base not available offline")
    text = ("The quick brown fox jumps over the lazy dog.\n" * 30_000)
    [n], exact = count_tokens([text], enc)
    assert exact and n == len(enc.encode_ordinary(text))
