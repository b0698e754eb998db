"""Opening the conversation a command line asks for: a new one (every `rlm ask` starts one, so `-c`
can follow up), the latest (`-c`), or a named one (`--conversation NAME`: continued, or created)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from ..errors import UsageError
from .inputs import Reading, context_sha256, group_for, load, read_all
from .session import Conversation
from .store import Store

MODEL_KEYS = ("profile", "config", "model", "sub_model", "api_base")


@dataclass
class Request:
    sources: list[str]
    reading: Reading
    models: dict = field(default_factory=dict)  # MODEL_KEYS given on this command line
    continue_latest: bool = False
    name: str | None = None
    caps: dict = field(default_factory=dict)  # conversation-wide limits given now
    stdin: object = None
    stdin_isatty: bool = True


def open_conversation(req: Request, options, resolve) -> Conversation:
    """`resolve(models: dict)` -> a resolved configuration (config.resolve). The conversation is locked
    for this process until it is closed."""
    store = Store()
    meta = _existing(store, req)
    stack = contextlib.ExitStack()
    try:
        if meta is None:
            ctx, meta = _start(store, req, stack)
        else:
            stack.enter_context(store.lock(meta.id))
            ctx = _resume(store, meta, req)
        meta.models.update({k: v for k, v in req.models.items() if v is not None})
        meta.caps.update({k: v for k, v in req.caps.items() if v is not None})
        conv = Conversation(resolve(meta.models), options, ctx, store=store, meta=meta, caps=meta.caps, lock=stack)
        conv.remember_context()
        store.save(meta)
        return conv
    except BaseException:
        stack.close()
        raise


def _existing(store: Store, req: Request):
    if req.continue_latest and req.name:
        raise UsageError("use either -c/--continue (the latest conversation) or --conversation NAME, not both")
    if req.continue_latest:
        return store.latest()
    if req.name and store.exists(req.name):
        return store.load(req.name)
    return None


def _start(store: Store, req: Request, stack: contextlib.ExitStack):
    sources = list(req.sources)
    if not sources:
        if req.stdin_isatty:
            raise UsageError("no SOURCES given and stdin is a terminal: pass files, or pipe text into rlm")
        sources = ["-"]
    ctx = load(sources, req.reading, stdin=req.stdin)  # read first: a bad input leaves no conversation behind
    meta = store.create(req.name)
    stack.enter_context(store.lock(meta.id))
    meta.inputs = [group_for(store, meta.id, sources, ctx, 1)]
    meta.reading = req.reading.stored()
    store.prune()
    return ctx, meta


def _resume(store: Store, meta, req: Request):
    reading = Reading.from_stored(meta.reading, password=req.reading.password, use_cache=req.reading.use_cache,
                                  progress=req.reading.progress)
    ctx = read_all(store, meta, reading)
    if meta.context_sha256 and context_sha256(ctx) != meta.context_sha256:
        ctx.warnings.append(f"conversation '{meta.id}': the documents changed since its last question; offsets "
                            "held by earlier REPL variables may point at other text now")
    if req.sources:
        more = load(req.sources, req.reading, stdin=req.stdin)
        meta.inputs.append(group_for(store, meta.id, req.sources, more, len(meta.inputs) + 1))
        ctx = ctx.concat(more)
    return ctx

