"""`rlm ingest SOURCES...` (what the model will see) and `rlm cache info|clear`."""
from __future__ import annotations

import json
import os
import time
from enum import Enum
from typing import List, Optional

import typer


class OcrMode(str, Enum):
    auto = "auto"
    always = "always"
    never = "never"


class PdfEngine(str, Enum):
    auto = "auto"
    pdfium = "pdfium"
    pypdf = "pypdf"


def register(app: typer.Typer) -> None:
    app.command("ingest", help="Show what the model will see for SOURCES: per-source chars, tokens, pages, warnings.")(ingest)
    cache_app = typer.Typer(help="The parse cache (text of PDF, DOCX, XLSX, PPTX, EPUB, HTML, e-mail and OCR'd files, keyed by "
                                 "path, size, mtime and content hash; URLs by ETag/Last-Modified) and the response "
                                 "cache (model answers kept by --cache).", no_args_is_help=True)
    cache_app.command("info", help="Where the caches are, how many entries, how big.")(cache_info)
    cache_app.command("clear", help="Delete every parse cache entry (--responses: the response cache's; --all: both).")(cache_clear)
    app.add_typer(cache_app, name="cache")


# ------------------------------------------------------------------------------------ tokens
def load_encoding():
    """cl100k_base offline if at all possible; None if tiktoken cannot load it."""
    from ..tokens import encoding

    return encoding()


def count_tokens(texts: list[str], enc=None) -> tuple[list[int], bool]:
    """Token counts per text and whether they are all exact (False: estimated, shown with "~").
    Texts over EXACT_LIMIT chars are estimated from samples: exact counts of 100 MB took 30 s and 2.3 GB."""
    enc = enc if enc is not None else load_encoding()
    if enc is None:
        return [(len(t) + 3) // 4 for t in texts], False
    from ..tokens import sampled_count

    counted = [sampled_count(lambda x: len(enc.encode_ordinary(x)), t, EXACT_LIMIT) for t in texts]
    return [n for n, _ in counted], all(exact for _, exact in counted)


EXACT_LIMIT = 4_000_000


# ---------------------------------------------------------------------------------- commands
def _env(ctx: typer.Context):
    from ..env import of

    env = of(ctx)
    return env.stdin, env.stdout, env.stderr, env.stdin_isatty


def ingest(
    ctx: typer.Context,
    sources: Optional[List[str]] = typer.Argument(None, help="Files, directories, http(s) URLs, or '-' for stdin "
                                                               "(stdin is read when none is given)."),
    include: List[str] = typer.Option([], "--include", help="Only files matching this glob (repeatable)."),
    exclude: List[str] = typer.Option([], "--exclude", help="Skip files/dirs matching this glob (repeatable)."),
    password: Optional[str] = typer.Option(None, "--password", help="Password for encrypted PDFs."),
    pdf_engine: PdfEngine = typer.Option(PdfEngine.auto, "--pdf-engine", help="PDF text engine: auto (PDFium, pypdf fallback), pdfium, pypdf."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the parse cache."),
    ocr: OcrMode = typer.Option(OcrMode.auto, "--ocr", help="OCR scanned PDF pages and images (needs the [ocr] extra): auto, always, never."),
    max_download: Optional[str] = typer.Option(None, "--max-download", metavar="SIZE", help="Largest URL download, e.g. 50MB [default: 200MB]."),
    text: bool = typer.Option(False, "--text", help="Dump the context text (what the model's `context` holds) to stdout."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Timing and every warning on stderr."),
) -> None:
    from ..errors import UsageError
    from ..env import isatty
    from ..ingest import DEFAULT_MAX_DOWNLOAD, load_sources
    from ..ingest.base import parse_size
    from ..ui.sanitize import clean, fix_unicode, one_line, terminal_json

    stdin, stdout, stderr, stdin_isatty = _env(ctx)
    if text and as_json:
        raise UsageError("--text and --json cannot be combined")
    try:
        limit = parse_size(max_download) if max_download is not None else DEFAULT_MAX_DOWNLOAD
    except ValueError as e:
        raise UsageError(f"--max-download: {e}") from None
    srcs = list(sources or [])
    if not srcs and stdin_isatty:
        raise UsageError("no sources given (and stdin is a terminal)", hint="rlm ingest FILE_OR_DIR... or pipe text in")
    from rich.console import Console

    err_console = Console(file=stderr, stderr=True, no_color="NO_COLOR" in os.environ)
    progress = None
    if err_console.is_terminal:
        from ..ingest.progress import RichProgress

        progress = RichProgress(err_console)
    t0 = time.perf_counter()
    context = load_sources(srcs, stdin=stdin if ("-" in srcs or not srcs) else None, include=include, exclude=exclude,
                           password=password, pdf_engine=pdf_engine.value, use_cache=not no_cache, progress=progress,
                           ocr=ocr.value, max_download=limit)
    elapsed = time.perf_counter() - t0
    if verbose:
        stderr.write(f"rlm: read {len(context.sources):,} source(s), {len(context.text):,} chars in {elapsed:.2f}s\n")
        for w in context.warnings:
            stderr.write(f"rlm: warning: {one_line(w)}\n")
        stderr.flush()
    if text:
        stdout.write(clean(context.text) if isatty(stdout) else context.text)  # a pipe gets the exact text
        if not context.text.endswith("\n"):
            stdout.write("\n")
        stdout.flush()
        return

    texts = [context.text[s.start:s.end] for s in context.sources]
    tokenizer = load_encoding() is not None
    tokens, exact = count_tokens(texts)
    total_tokens, total_exact = count_tokens([context.text])
    exact = exact and total_exact
    rows = []
    for s, tok in zip(context.sources, tokens):
        rows.append({
            "name": s.name, "kind": s.kind, "size_bytes": s.size_bytes, "chars": s.chars, "tokens": tok,
            "pages": _parts(s), "unit": s.unit if s.pages else "", "warnings": list(s.warnings),
        })
    if as_json:
        doc = json.dumps({
            "sources": rows,
            "total": {"sources": len(rows), "chars": len(context.text), "tokens": total_tokens[0],
                      "pages": sum(r["pages"] for r in rows)},
            "tokens_exact": exact,
            "tokenizer": "cl100k_base" if tokenizer else "estimate (chars/4)",
            "warnings": list(context.warnings),
            "seconds": round(elapsed, 3),
        }, ensure_ascii=False, indent=2)
        stdout.write((terminal_json(doc) if isatty(stdout) else fix_unicode(doc)) + "\n")
        stdout.flush()
        return

    from rich.table import Table

    out = Console(file=stdout, no_color="NO_COLOR" in os.environ, highlight=False)
    if not out.is_terminal:
        out = Console(file=stdout, no_color=True, highlight=False, width=1000)  # pipes: never wrap
    approx = "" if exact else "~"
    table = Table(title=None, show_footer=len(rows) > 1, box=None, pad_edge=False)
    table.add_column("source", footer="total")
    table.add_column("kind")
    table.add_column("chars", justify="right", footer=f"{len(context.text):,}")
    table.add_column("tokens" + ("" if exact else " (est.)"), justify="right", footer=f"{approx}{total_tokens[0]:,}")
    units = {r["unit"] for r in rows if r["pages"]}
    total_parts = f"{sum(r['pages'] for r in rows):,} {_plural(units.pop(), 2)}" if len(units) == 1 else ""
    table.add_column("parts", justify="right", footer=total_parts)
    table.add_column("warnings", justify="right", footer=str(len(context.warnings)) if context.warnings else "")
    for r in rows:  # names come from outside (file names, URLs, documents): escaped, never markup or escapes
        table.add_row(_plain(r["name"]), _plain(r["kind"]), f"{r['chars']:,}", f"{approx}{r['tokens']:,}",
                      f"{r['pages']:,} {_plural(r['unit'], r['pages'])}" if r["pages"] else "",
                      str(len(r["warnings"])) if r["warnings"] else "")
    out.print(table)
    if context.warnings:
        out.print()
        for w in context.warnings:
            out.print(f"warning: {one_line(w)}", markup=False, soft_wrap=True, highlight=False)
    if not tokenizer:
        out.print("(tiktoken's cl100k_base could not be loaded offline: token counts are chars/4 estimates)", markup=False)
    elif not exact:
        out.print(f"(sources over {EXACT_LIMIT:,} characters: cl100k_base counts extrapolated from samples)", markup=False)


def _parts(source) -> int:
    """Pages, chapters, slides, messages, sections; sheets counted once however many row runs they have."""
    if source.unit == "sheet":
        return len({p.label for p in source.pages})
    return len(source.pages)


def _plural(unit: str, n: int) -> str:
    return unit if n == 1 else {"chapter": "chapters", "slide": "slides", "sheet": "sheets", "message": "messages",
                                "section": "sections"}.get(unit, unit + "s")


def _plain(name: str, limit: int = 200) -> str:
    """A name from a file, a document or a URL shown in the table: the one terminal sanitiser, escaped."""
    from ..ui.sanitize import markup

    name = str(name)
    return markup(name if len(name) <= limit else name[: limit - 1] + "…")


def cache_info(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    from ..ingest import cache
    from ..response_cache import Store

    out = _env(ctx)[1]
    info, responses = cache.info(), Store().info()
    if as_json:
        out.write(json.dumps(dict(info, responses=responses)) + "\n")
        return
    out.write(f"path:    {info['path']}\nentries: {info['entries']:,}\nsize:    {info['bytes']:,} bytes\n"
              f"responses: {responses['path']}\n  entries: {responses['entries']:,}\n"
              f"  size:    {responses['bytes']:,} bytes (cap {responses['max_bytes']:,})\n")


def cache_clear(ctx: typer.Context,
                responses: bool = typer.Option(False, "--responses", help="Clear the response cache (--cache) instead."),
                everything: bool = typer.Option(False, "--all", help="Clear both caches.")) -> None:
    from ..ingest import cache
    from ..response_cache import Store

    out = _env(ctx)[1]
    if everything or not responses:
        n = cache.clear()
        out.write(f"removed {n:,} cache entr{'y' if n == 1 else 'ies'} from {cache.cache_root()}\n")
    if everything or responses:
        store = Store()
        n = store.clear()
        store.close()
        out.write(f"removed {n:,} cached response{'' if n == 1 else 's'} from {store.path}\n")
