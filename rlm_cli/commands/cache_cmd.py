"""`rlm cache info | clear`: the parse cache, the response cache, and the local model's files."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    cache_app = typer.Typer(help="The parse cache (text of PDF, DOCX, XLSX, PPTX, EPUB, HTML, e-mail and OCR'd files, keyed by "
                                 "path, size, mtime and content hash; URLs by ETag/Last-Modified) and the response "
                                 "cache (model answers kept by --cache).", no_args_is_help=True)
    cache_app.command("info", help="Where the caches are, how many entries, how big.")(cache_info)
    cache_app.command("clear", help="Delete every parse cache entry (--responses: the response cache's; --model: the "
                                    "local model's assembled copy; --all: everything).")(cache_clear)
    app.add_typer(cache_app, name="cache")


def _env(ctx: typer.Context):
    from ..env import of

    env = of(ctx)
    return env.stdin, env.stdout, env.stderr, env.stdin_isatty


def cache_info(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    from ..ingest import cache
    from ..response_cache import Store

    out = _env(ctx)[1]
    info, responses, models = cache.info(), Store().info(), model_files()
    if as_json:
        out.write(json.dumps(dict(info, responses=responses, models=models)) + "\n")
        return
    out.write(f"path:    {info['path']}\nentries: {info['entries']:,}\nsize:    {info['bytes']:,} bytes\n"
              f"responses: {responses['path']}\n  entries: {responses['entries']:,}\n"
              f"  size:    {responses['bytes']:,} bytes (cap {responses['max_bytes']:,})\n")
    for m in models:
        out.write(f"model:   {m['path']} ({m['bytes']:,} bytes; {m['note']})\n")


def cache_clear(ctx: typer.Context,
                responses: bool = typer.Option(False, "--responses", help="Clear the response cache (--cache) instead."),
                model: bool = typer.Option(False, "--model", help="Remove the local model's assembled copy."),
                everything: bool = typer.Option(False, "--all", help="Clear every cache (and the model's copy).")) -> None:
    from ..ingest import cache
    from ..response_cache import Store

    out = _env(ctx)[1]
    if everything or model:
        for m in model_files():
            Path(m["path"]).unlink(missing_ok=True)
            out.write(f"removed {m['path']} ({m['bytes']:,} bytes)\n")
    if model and not (responses or everything):
        return
    if everything or not responses:
        n = cache.clear()
        out.write(f"removed {n:,} cache entr{'y' if n == 1 else 'ies'} from {cache.cache_root()}\n")
    if everything or responses:
        store = Store()
        n = store.clear()
        store.close()
        out.write(f"removed {n:,} cached response{'' if n == 1 else 's'} from {store.path}\n")


def model_files() -> list[dict]:
    """GGUF files rlm keeps in its cache (an assembled copy of the built-in model, on systems without
    memfd or from an older rlm; on Linux the model is joined in memory from its installed parts)."""
    import os

    from .. import paths

    found = []
    for path in sorted((paths.cache_dir() / "models").glob("*.gguf")):
        needed = not hasattr(os, "memfd_create")
        found.append({"path": str(path), "bytes": path.stat().st_size,
                      "note": "used by the local model" if needed else "not needed any more: rlm cache clear --model"})
    return found
