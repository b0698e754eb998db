"""Ingestion of plain text, stdin and directories."""
from __future__ import annotations

import codecs
import io
import os

import pytest

from rlm_cli.errors import ExitStatus, InputError
from rlm_cli.ingest import load_sources
from rlm_cli.ingest.text import decode_bytes, detect_encoding
from rlm_cli.ingest.walk import glob_match, parse_gitignore


@pytest.fixture(autouse=True)
def _rlm_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RLM_HOME", str(tmp_path / "rlm_home"))


FRENCH = "Le garçon a mangé à midi. Café crème, déjà vu, naïve façade.\n" * 4
JAPANESE = "日本語のテキストです。これはテストです。東京都の天気は晴れ。\n" * 4


@pytest.mark.parametrize(
    "data, expected",
    [
        (FRENCH.encode("latin-1"), FRENCH),
        (FRENCH.encode("utf-8"), FRENCH),
        (codecs.BOM_UTF8 + FRENCH.encode("utf-8"), FRENCH),
        (codecs.BOM_UTF16_LE + FRENCH.encode("utf-16-le"), FRENCH),
        (codecs.BOM_UTF16_BE + FRENCH.encode("utf-16-be"), FRENCH),
        (FRENCH.encode("utf-16-le"), FRENCH),  # no BOM
        (FRENCH.encode("utf-16-be"), FRENCH),  # no BOM
        (codecs.BOM_UTF32_LE + FRENCH.encode("utf-32-le"), FRENCH),
        (JAPANESE.encode("shift_jis"), JAPANESE),
        (JAPANESE.encode("euc_jp"), JAPANESE),
        ("Привет, мир! Съешь же ещё этих мягких французских булок.".encode("cp1251"),
         "Привет, мир! Съешь же ещё этих мягких французских булок."),
    ],
    ids=["latin1", "utf8", "utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be", "utf32-bom",
         "shift_jis", "euc_jp", "cp1251"],
)
def test_decode_encodings(data, expected):
    text, enc = decode_bytes(data)
    assert text == expected, enc


def test_newlines_normalised():
    text, _ = decode_bytes(b"a\r\nb\rc\nd\r\n")
    assert text == "a\nb\nc\nd\n"


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + bytes(100), b"abc\x00def" * 50, bytes(range(256)) * 4,
                                  b"PK\x03\x04" + bytes(50), b"\x7fELF" + bytes(60)])
def test_binary_refused(data):
    from rlm_cli.ingest.text import BinaryInput

    with pytest.raises(BinaryInput):
        detect_encoding(data)


def test_single_file_context_is_exactly_its_text(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_bytes(b"line one\r\nline two\r\nline three")
    ctx = load_sources([str(f)], use_cache=False)
    [src] = ctx.sources
    assert ctx.text == "line one\nline two\nline three"  # no header line: the model sees the document only
    assert (src.start, src.end) == (0, len(ctx.text))
    assert src.kind == "text" and src.size_bytes == 30
    off = ctx.text.index("line three")
    assert ctx.locate(off) == f"{f} line 3"
    assert ctx.locate(src.start) == f"{f} line 1"


def test_multiple_sources_offsets_exact(tmp_path):
    a, b = tmp_path / "a.md", tmp_path / "b.txt"
    a.write_text("# Title\nalpha")
    b.write_text("x,y\n1,2\n")
    ctx = load_sources([str(a), str(b)], use_cache=False)
    assert [ctx.text[s.start:s.end] for s in ctx.sources] == ["# Title\nalpha", "x,y\n1,2\n"]
    assert ctx.locate(ctx.text.index("1,2")) == f"{b} line 2"
    # the minimal documented layout: a name line before each source, a blank line between sources
    assert ctx.text == f"==> {a} <==\n# Title\nalpha\n\n==> {b} <==\nx,y\n1,2\n"


def test_stdin_dash_and_implicit(tmp_path):
    data = "données\r\n".encode("latin-1") * 10
    for paths in (["-"], []):
        ctx = load_sources(paths, stdin=io.BytesIO(data), use_cache=False)
        [src] = ctx.sources
        assert src.name == "<stdin>" and src.kind == "stdin" and src.size_bytes == len(data)
        assert ctx.text[src.start:src.end] == "données\n" * 10


def test_stdin_mixed_with_file(tmp_path):
    f = tmp_path / "f.txt"
    f.write_text("file text")
    ctx = load_sources([str(f), "-"], stdin=io.BytesIO(b"piped text"), use_cache=False)
    assert [s.name for s in ctx.sources] == [str(f), "<stdin>"]
    assert ctx.text[ctx.sources[1].start:ctx.sources[1].end] == "piped text"


@pytest.mark.parametrize("data", [b"", b"  \n\n"])
def test_stdin_empty(data):
    with pytest.raises(InputError) as ei:
        load_sources(["-"], stdin=io.BytesIO(data))
    assert ei.value.exit_status == ExitStatus.INPUT and "empty" in str(ei.value)


def test_errors_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_sources([str(tmp_path / "missing.txt")])
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_sources([str(empty)])
    binf = tmp_path / "img.txt"
    binf.write_bytes(b"\x7fELF" + bytes(200))
    with pytest.raises(InputError, match="binary file \\(ELF executable\\)") as ei:
        load_sources([str(binf)])
    assert str(ei.value).startswith(str(binf) + ": ")
    assert "\n" not in str(ei.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied(tmp_path):
    f = tmp_path / "secret.txt"
    f.write_text("x")
    f.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        load_sources([str(f)])


def test_total_size_limit(tmp_path):
    f = tmp_path / "big.txt"
    f.write_text("x" * 5000)
    with pytest.raises(InputError, match="exceeds the limit"):
        load_sources([str(f)], max_total_bytes=1000)
    with pytest.raises(InputError, match="limit"):
        load_sources(["-"], stdin=io.BytesIO(b"y" * 5000), max_total_bytes=1000)
    assert len(load_sources([str(f)], max_total_bytes=None).text) == 5000


def make_tree(root):
    (root / "sub" / "deep").mkdir(parents=True)
    (root / ".hidden").mkdir()
    (root / ".git").mkdir()
    (root / "build").mkdir()
    (root / "b.txt").write_text("bee")
    (root / "a.txt").write_text("ay")
    (root / "sub" / "c.md").write_text("sea")
    (root / "sub" / "deep" / "d.log").write_text("dee")
    (root / "sub" / "deep" / "keep.log").write_text("kept")
    (root / ".hidden" / "h.txt").write_text("hidden")
    (root / ".git" / "config").write_text("[core]")
    (root / ".env").write_text("SECRET=1")
    (root / "build" / "out.txt").write_text("built")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (root / "notes.tmp").write_text("temp")
    (root / ".gitignore").write_text("build/\n*.tmp\n# comment\n")
    (root / "sub" / ".gitignore").write_text("deep/*.log\n!deep/keep.log\n")
    os.symlink("..", root / "sub" / "loop")


def test_directory_walk(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    make_tree(root)
    ctx = load_sources([str(root)], use_cache=False)
    names = [os.path.relpath(s.name, root) for s in ctx.sources]
    assert names == ["a.txt", "b.txt", "sub/c.md", "sub/deep/keep.log"]
    assert any("binary" in w and "image.png" in w for w in ctx.warnings)
    assert any("loop" in w and "loop" in w.split(":")[0] for w in ctx.warnings)
    assert "SECRET" not in ctx.text and "built" not in ctx.text and "temp" not in ctx.text


def test_directory_include_exclude(tmp_path):
    root = tmp_path / "docs"
    root.mkdir()
    make_tree(root)
    ctx = load_sources([str(root)], include=["*.md", "*.log"], use_cache=False)
    assert [os.path.basename(s.name) for s in ctx.sources] == ["c.md", "keep.log"]
    ctx = load_sources([str(root)], exclude=["sub"], use_cache=False)
    assert [os.path.basename(s.name) for s in ctx.sources] == ["a.txt", "b.txt"]
    ctx = load_sources([str(root)], exclude=["sub/deep/**"], use_cache=False)
    assert [os.path.basename(s.name) for s in ctx.sources] == ["a.txt", "b.txt", "c.md"]
    with pytest.raises(InputError, match="no readable files"):
        load_sources([str(root)], include=["*.nothing"])


def test_directory_relative_names(tmp_path, monkeypatch):
    root = tmp_path / "docs"
    root.mkdir()
    (root / "x.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    ctx = load_sources(["./docs/"], use_cache=False)
    assert [s.name for s in ctx.sources] == ["docs/x.txt"]


def test_directory_only_binaries(tmp_path):
    (tmp_path / "a.bin").write_bytes(bytes(range(256)))
    with pytest.raises(InputError, match="nothing readable"):
        load_sources([str(tmp_path)])


def test_gitignore_patterns():
    rules = parse_gitignore("*.o\n/root_only.txt\nlogs/**/debug.log\n!important.o\ndir/\n")

    def ignored(rel, is_dir=False):
        res = False
        for r in rules:
            if r.dir_only and not is_dir:
                continue
            if r.regex.match(rel):
                res = not r.negate
        return res

    assert ignored("a.o") and ignored("x/y/a.o")
    assert not ignored("important.o")
    assert ignored("root_only.txt") and not ignored("sub/root_only.txt")
    assert ignored("logs/debug.log") and ignored("logs/a/b/debug.log") and not ignored("logs/a/info.log")
    assert ignored("dir", True) and not ignored("dir", False)


def test_glob_match():
    assert glob_match("a/b/c.py", ["*.py"])
    assert glob_match("a/b/c.py", ["a/**/*.py"])
    assert not glob_match("a/b/c.py", ["b/*.py"])
    assert glob_match("src/x.txt", ["src/*"])
