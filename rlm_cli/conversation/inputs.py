"""A conversation's documents: the groups of sources as given (a first question's SOURCES, then each
`/add` or `rlm ask -c NEW_SOURCES`), read again in a later process and joined end to end, so the
offsets earlier REPL variables hold stay valid."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..context import Context


@dataclass
class Reading:
    """How sources are read (stored with the conversation; never the password)."""

    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    pdf_engine: str = "auto"
    use_cache: bool = True
    password: str | None = None
    progress: object = None
    ocr: str = "auto"  # --ocr: changes the text, so it is stored
    max_download: int | None = None  # --max-download (None: the ingest default)

    def stored(self) -> dict:
        return {"include": list(self.include), "exclude": list(self.exclude), "pdf_engine": self.pdf_engine,
                "ocr": self.ocr}

    @classmethod
    def from_stored(cls, d: dict, **live) -> "Reading":
        keys = ("include", "exclude", "pdf_engine", "ocr")
        return cls(**{k: d[k] for k in keys if k in d}, **live)


def load(specs: list[str], reading: Reading, stdin=None) -> Context:
    from ..ingest import DEFAULT_MAX_DOWNLOAD, load_sources

    return load_sources(list(specs), stdin=stdin, include=reading.include, exclude=reading.exclude,
                        password=reading.password, pdf_engine=reading.pdf_engine, use_cache=reading.use_cache,
                        progress=reading.progress, ocr=reading.ocr,
                        max_download=reading.max_download or DEFAULT_MAX_DOWNLOAD)


def group_for(store, cid: str, specs: list[str], ctx: Context, n: int) -> dict:
    """How to read `specs` again: local paths made absolute, stdin's text kept in the conversation."""
    group: dict = {"specs": [s if s == "-" or "://" in s else os.path.abspath(s) for s in specs]}
    stdin = [s for s in ctx.sources if s.kind == "stdin"]
    if stdin and store is not None:
        group["stdin"] = store.keep_stdin(cid, ctx.text[stdin[0].start:stdin[0].end], n)
    return group


def read_all(store, meta, reading: Reading) -> Context:
    """Every group of the conversation, read again and joined in order."""
    ctx = None
    for group in meta.inputs:
        stdin = open(store.stdin_file(meta.id, group["stdin"]), "rb") if group.get("stdin") else None
        try:
            part = load(group["specs"], reading, stdin=stdin)
        finally:
            if stdin is not None:
                stdin.close()
        ctx = part if ctx is None else ctx.concat(part)
    if ctx is None:
        from ..errors import UsageError

        raise UsageError(f"conversation '{meta.id}' has no documents")
    return ctx


def context_sha256(ctx: Context) -> str:
    import hashlib

    return hashlib.sha256(ctx.text.encode("utf-8", "surrogateescape")).hexdigest()
