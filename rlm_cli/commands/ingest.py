"""`rlm ingest SOURCES...`: what the model will see (per-source characters, tokens, parts, warnings)."""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import List, Optional

import typer

from . import options as O

EXACT_LIMIT = 4_000_000


def register(app: typer.Typer) -> None:
    app.command("ingest", help="Show what the model will see for SOURCES: per-source chars, tokens, pages, warnings.")(ingest)
    from .cache_cmd import register as register_cache

    register_cache(app)


def ingest(
    ctx: typer.Context,
    sources: Optional[List[str]] = typer.Argument(None, help="Files, directories, http(s) URLs, or '-' for stdin "
                                                               "(stdin is read when none is given)."),
    include: O.Include = [],  # noqa: B006 (typer copies it)
    exclude: O.Exclude = [],  # noqa: B006
    password: O.Password = None,
    pdf_engine: O.PdfEngine = "auto",
    no_cache: O.NoCache = False,
    ocr: O.Ocr = O.OcrMode.auto,
    max_download: O.MaxDownload = None,
    text: bool = typer.Option(False, "--text", help="Dump the context text (what the model's `context` holds) to stdout."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable summary on stdout."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Timing and every warning on stderr."),
) -> None:
    from ..env import of
    from ..errors import UsageError

    env = of(ctx)
    if text and as_json:
        raise UsageError("--text and --json cannot be combined")
    srcs = list(sources or [])
    if not srcs and env.stdin_isatty:
        raise UsageError("no sources given (and stdin is a terminal)", hint="rlm ingest FILE_OR_DIR... or pipe text in")
    t0 = time.perf_counter()
    context = _load(env, srcs, include=include, exclude=exclude, password=password, pdf_engine=pdf_engine,
                    use_cache=not no_cache, ocr=ocr.value, max_download=max_download)
    elapsed = time.perf_counter() - t0
    if verbose:
        _timing(env, context, elapsed)
    if text:
        _write(env, context.text if context.text.endswith("\n") else context.text + "\n")
        return
    summary = Summary.of(context, elapsed)
    if as_json:
        _write(env, json.dumps(summary.as_dict(), ensure_ascii=False, indent=2) + "\n", is_json=True)
    else:
        _print_table(env, summary)


def _write(env, text: str, is_json: bool = False) -> None:
    """A pipe gets the exact text; a terminal gets it without escape sequences (JSON stays valid)."""
    from .delivery import write_stdout

    write_stdout(env, text, is_json)


def _load(env, srcs: list[str], *, max_download, **reading):
    from rich.console import Console

    from ..ingest import DEFAULT_MAX_DOWNLOAD, load_sources

    err_console = Console(file=env.stderr, stderr=True, no_color="NO_COLOR" in os.environ)
    progress = None
    if err_console.is_terminal:
        from ..ingest.progress import RichProgress

        progress = RichProgress(err_console)
    stdin = env.stdin if ("-" in srcs or not srcs) else None
    return load_sources(srcs, stdin=stdin, progress=progress,
                        max_download=max_download if max_download is not None else DEFAULT_MAX_DOWNLOAD, **reading)


def _timing(env, context, elapsed: float) -> None:
    from ..ui.sanitize import one_line

    env.stderr.write(f"rlm: read {len(context.sources):,} source(s), {len(context.text):,} chars in {elapsed:.2f}s\n")
    for w in context.warnings:
        env.stderr.write(f"rlm: warning: {one_line(w)}\n")
    env.stderr.flush()


@dataclass
class Summary:
    rows: list[dict]
    chars: int
    tokens: int
    exact: bool
    tokenizer: bool
    warnings: list[str]
    seconds: float

    @classmethod
    def of(cls, context, elapsed: float) -> "Summary":
        texts = [context.text[s.start:s.end] for s in context.sources]
        tokens, exact = count_tokens(texts)
        (total,), total_exact = count_tokens([context.text])
        rows = [{"name": s.name, "kind": s.kind, "size_bytes": s.size_bytes, "chars": s.chars, "tokens": tok,
                 "pages": _parts(s), "unit": s.unit if s.pages else "", "warnings": list(s.warnings)}
                for s, tok in zip(context.sources, tokens)]
        return cls(rows, len(context.text), total, exact and total_exact, load_encoding() is not None,
                   list(context.warnings), elapsed)

    def as_dict(self) -> dict:
        return {"sources": self.rows,
                "total": {"sources": len(self.rows), "chars": self.chars, "tokens": self.tokens,
                          "pages": sum(r["pages"] for r in self.rows)},
                "tokens_exact": self.exact, "tokenizer": "cl100k_base" if self.tokenizer else "estimate (chars/4)",
                "warnings": self.warnings, "seconds": round(self.seconds, 3)}


def _print_table(env, s: Summary) -> None:
    from rich.console import Console

    out = Console(file=env.stdout, no_color="NO_COLOR" in os.environ, highlight=False)
    if not out.is_terminal:
        out = Console(file=env.stdout, no_color=True, highlight=False, width=1000)  # pipes: never wrap
    out.print(_table(s))
    if s.warnings:
        from ..ui.sanitize import one_line

        out.print()
        for w in s.warnings:
            out.print(f"warning: {one_line(w)}", markup=False, soft_wrap=True, highlight=False)
    if not s.tokenizer:
        out.print("(tiktoken's cl100k_base could not be loaded offline: token counts are chars/4 estimates)", markup=False)
    elif not s.exact:
        out.print(f"(sources over {EXACT_LIMIT:,} characters: cl100k_base counts extrapolated from samples)", markup=False)


def _table(s: Summary):
    from rich.table import Table

    approx = "" if s.exact else "~"
    rows = s.rows
    table = Table(title=None, show_footer=len(rows) > 1, box=None, pad_edge=False)
    table.add_column("source", footer="total")
    table.add_column("kind")
    table.add_column("chars", justify="right", footer=f"{s.chars:,}")
    table.add_column("tokens" + ("" if s.exact else " (est.)"), justify="right", footer=f"{approx}{s.tokens:,}")
    units = {r["unit"] for r in rows if r["pages"]}
    total_parts = f"{sum(r['pages'] for r in rows):,} {_plural(units.pop(), 2)}" if len(units) == 1 else ""
    table.add_column("parts", justify="right", footer=total_parts)
    table.add_column("warnings", justify="right", footer=str(len(s.warnings)) if s.warnings else "")
    for r in rows:  # names come from outside (file names, URLs, documents): escaped, never markup or escapes
        table.add_row(_plain(r["name"]), _plain(r["kind"]), f"{r['chars']:,}", f"{approx}{r['tokens']:,}",
                      f"{r['pages']:,} {_plural(r['unit'], r['pages'])}" if r["pages"] else "",
                      str(len(r["warnings"])) if r["warnings"] else "")
    return table


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
