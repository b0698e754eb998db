"""Conversations on disk: one directory each under the state dir, holding what a later process needs
to continue: meta.json (exchanges, models, the sources as given, usage), the text read from stdin
(stdin-N.txt: a pipe cannot be read twice), and the REPL's saved variables (state.pkl, made inside the
sandbox). Documents are read again from their paths (through the parse cache); a changed document is
noticed by the context's hash."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import paths
from ..errors import UsageError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STATE_FILE = "state.pkl"


@dataclass
class Exchange:
    question: str
    answer: str | None
    status: str
    run_id: str
    trajectory: str | None = None
    cost_usd: float = 0.0
    tokens: int = 0
    calls: int = 0
    at: float = field(default_factory=time.time)


@dataclass
class Meta:
    id: str
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    name: str | None = None  # given by the user (named conversations are never pruned)
    models: dict = field(default_factory=dict)  # profile, config, model, sub_model, api_base: as first asked
    inputs: list[dict] = field(default_factory=list)  # groups of sources as given: {"specs": [...], "stdin": file}
    reading: dict = field(default_factory=dict)  # include, exclude, pdf_engine (never a password)
    sources: list[str] = field(default_factory=list)  # names, for `rlm conversations list`
    context_sha256: str = ""
    caps: dict = field(default_factory=dict)  # conversation-wide limits (max_cost, ...)
    exchanges: list[Exchange] = field(default_factory=list)
    usage: dict = field(default_factory=lambda: {"calls": 0, "tokens": 0, "cost_usd": 0.0})
    state: dict = field(default_factory=dict)  # what the last save kept: saved, skipped, bytes

    @classmethod
    def from_dict(cls, d: dict) -> "Meta":
        d = dict(d)
        d["exchanges"] = [Exchange(**e) for e in d.get("exchanges", [])]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


class Store:
    """The conversations directory (RLM_HOME/state/conversations, or the platform's state dir)."""

    def __init__(self, root: Path | None = None):
        self.root = root or paths.state_dir() / "conversations"

    def dir(self, cid: str) -> Path:
        return self.root / cid

    def exists(self, cid: str) -> bool:
        return (self.dir(cid) / "meta.json").is_file()

    def create(self, name: str | None = None) -> Meta:
        if name is not None:
            check_name(name)
        cid = name or new_id()
        paths.ensure(self.dir(cid))
        os.chmod(self.dir(cid), 0o700)
        meta = Meta(cid, name=name)
        self.save(meta)
        return meta

    def load(self, cid: str) -> Meta:
        check_name(cid)
        try:
            return Meta.from_dict(json.loads((self.dir(cid) / "meta.json").read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UsageError(f"no conversation named '{cid}' (see `rlm conversations list`)") from None
        except (ValueError, TypeError) as exc:
            raise UsageError(f"conversation '{cid}': its meta.json is damaged ({exc})") from None

    def save(self, meta: Meta) -> None:
        from ..ui.output import write_atomic

        meta.updated = time.time()
        write_atomic(self.dir(meta.id) / "meta.json", json.dumps(asdict(meta), ensure_ascii=False, indent=1), fsync=False)

    def all(self) -> list[Meta]:
        """Every conversation, most recently used first (damaged ones skipped)."""
        metas = []
        for d in self.root.glob("*/meta.json") if self.root.is_dir() else []:
            try:
                metas.append(Meta.from_dict(json.loads(d.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(metas, key=lambda m: m.updated, reverse=True)

    def latest(self) -> Meta:
        metas = self.all()
        if not metas:
            raise UsageError("no conversation to continue yet: ask a first question with `rlm ask SOURCES QUESTION`")
        return metas[0]

    def rename(self, meta: Meta, name: str) -> None:
        """Give a conversation a name (its directory moves; a held lock stays with the directory)."""
        check_name(name)
        if name == meta.id:
            return
        if self.exists(name):
            raise UsageError(f"a conversation named '{name}' exists already")
        os.rename(self.dir(meta.id), self.dir(name))
        meta.id, meta.name = name, name
        self.save(meta)

    def remove(self, cid: str) -> None:
        check_name(cid)
        if not self.exists(cid):
            raise UsageError(f"no conversation named '{cid}'")
        with self.lock(cid):
            shutil.rmtree(self.dir(cid))

    @contextlib.contextmanager
    def lock(self, cid: str):
        """One process at a time per conversation (a second `rlm ask -c` says so instead of racing)."""
        import fcntl

        path = self.dir(cid) / ".lock"
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"conversation '{cid}' is in use by another rlm process") from None
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ---- inputs --------------------------------------------------------------------------------------
    def keep_stdin(self, cid: str, text: str, n: int) -> str:
        """Keep what was read from stdin (file name returned, relative to the conversation's dir)."""
        name = f"stdin-{n}.txt"
        (self.dir(cid) / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        return name

    def stdin_file(self, cid: str, name: str) -> Path:
        path = self.dir(cid) / Path(name).name
        if not path.is_file():
            raise UsageError(f"conversation '{cid}': the text it read from stdin is gone ({name})")
        return path

    def prune(self, keep: int = 100) -> list[str]:
        """Forget the oldest unnamed conversations past `keep` (every `rlm ask` starts one)."""
        removed = []
        for meta in [m for m in self.all() if not m.name][keep:]:
            try:
                with self.lock(meta.id):
                    shutil.rmtree(self.dir(meta.id))
                removed.append(meta.id)
            except (UsageError, OSError):
                continue
        return removed

    def state_path(self, cid: str) -> Path:
        return self.dir(cid) / STATE_FILE


def new_id() -> str:
    return time.strftime("c%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:4]


def check_name(name: str) -> None:
    if not NAME.match(name or ""):
        raise UsageError(f"conversation name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
