"""Sandbox worker: the child side of the REPL protocol.

Run by the host as ``python -I -S worker.py --in FD --out FD ...``. Standard library only and no
imports from rlm_cli, so it starts in tens of milliseconds and needs nothing but the Python
prefix. Protocol: JSON lines on two pipes (``--in`` host->worker, ``--out`` worker->host) that are
not fds 0-2; the model's code writes to ``sys.stdout`` (captured per exec) and fds 1/2 (a file beside
scratch, read back after each exec), so nothing it prints can corrupt the protocol. Before any model
code runs it confines itself with confine.py (namespaces, Landlock, the host's seccomp program) and
caps its threads (ThreadCap).

host -> worker: {"type": "exec", "code": str, "seq": int}
                {"type": "reply", "id": int, "results": [str, ...]} | {"type": "reply", "id": int, "error": str, "fatal": bool}
worker -> host: {"type": "ready", "pid": int, "layers": [...]}
                {"type": "call", "id": int, "fn": "llm_query"|"rlm_query", "args": {...}}
                {"type": "result", "seq": int, "stdout": str, "error": str|None, "final": str|None, "notes": [str],
                 "evidence": [{"quote": str} | {"start": int, "end": int}, ...]}   (evidence: claims the host verifies)
"""
from __future__ import annotations

import argparse
import ast
import bisect
import json
import os
import signal
import sys
import threading
import time
import traceback

RESERVED = (
    "context",
    "sources",
    "llm_query",
    "llm_query_batched",
    "rlm_query",
    "rlm_query_batched",
    "FINAL",
    "FINAL_VAR",
    "locate",
    "SHOW_VARS",
    "documents",
    "search",
    "read",
    "cite",
    "tally",
)


_SIBLINGS: dict = {}


def _sibling(name: str):
    """A module beside us (helpers.py, worker_state.py, confine.py), loaded by path (the worker runs
    with -I: its directory is not on sys.path) and registered as `_rlm_<name>` so what it defines
    pickles (conversations keep search hits)."""
    mod = _SIBLINGS.get(name)
    if mod is None:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
        spec = importlib.util.spec_from_file_location(f"_rlm_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"_rlm_{name}"] = mod
        spec.loader.exec_module(mod)
        _SIBLINGS[name] = mod
    return mod


_io = _sibling("worker_io")  # the plumbing: exceptions, the output buffer, the channel, timers, the thread cap
Submitted, FatalCall, ExecTimeout = _io.Submitted, _io.FatalCall, _io.ExecTimeout
BoundedText, Channel, Timer, ThreadCap = _io.BoundedText, _io.Channel, _io.Timer, _io.ThreadCap


_REPL = None  # the Repl of this process: Document objects read `context` through it (so they pickle)


class Document:
    """One source of `context` (the `documents` list): .name, .kind, .start, .end, .text (that
    source's text only), .pages (its spans), .locate(i) for an offset i in .text."""

    __slots__ = ("name", "kind", "start", "end", "pages")

    def __init__(self, source: dict):
        self.name, self.kind = source.get("name", ""), source.get("kind", "text")
        self.start, self.end = int(source.get("start", 0)), int(source.get("end", 0))
        self.pages = [dict(p, start=p["start"] - self.start, end=p["end"] - self.start) for p in source.get("pages") or []]

    @property
    def text(self) -> str:
        return _REPL.reserved["context"][self.start:self.end]

    def locate(self, offset) -> str:
        return _REPL.locate(self.start + max(0, int(offset)))

    def __len__(self) -> int:
        return self.end - self.start

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<document {self.name!r} ({self.kind}, {self.end - self.start:,} chars, context[{self.start}:{self.end}])>"


class Repl:
    def __init__(self, chan: Channel, context: str, sources: list[dict], opts: argparse.Namespace):
        self.chan = chan
        self.opts = opts
        self.timer = Timer(opts.soft_timeout)
        self.final: str | None = None
        self.has_final = False
        self.evidence: list[dict] = []  # the items the last FINAL carried (the host verifies them)
        self.main_thread = threading.get_ident()
        self.out_path = opts.raw_output
        # The namespace is a real module registered as __main__, so pickle finds functions and classes
        # defined in the REPL by reference (conversations keep them across processes).
        import types

        module = types.ModuleType("__main__")
        sys.modules["__main__"] = module
        self.namespace: dict = module.__dict__
        self.namespace["__builtins__"] = __builtins__
        self.defs: dict[str, str] = {}  # name -> source of its latest def / class / import statement
        self.reserved = {
            "context": context,
            "sources": sources,
            "llm_query": self.llm_query,
            "llm_query_batched": self.llm_query_batched,
            "rlm_query": self.rlm_query,
            "rlm_query_batched": self.rlm_query_batched,
            "FINAL": self.FINAL,
            "FINAL_VAR": self.FINAL_VAR,
            "locate": self.locate,
            "SHOW_VARS": self.SHOW_VARS,
            **{name: getattr(self.finder, name) for name in ("search", "read", "cite", "tally")},
        }
        global _REPL
        _REPL = self
        self.reserved["documents"] = [Document(s) for s in sources]
        self._starts = [s["start"] for s in sources]
        self.namespace.update(self.reserved)
        # Small models often write Final(...)/final(...): accept them, but unprotected (a model may
        # well name a variable `final`).
        self.namespace.update(Final=self.FINAL, final=self.FINAL)

    # ---- functions visible to model code -------------------------------------------------------
    def _call(self, fn: str, args: dict) -> list[str]:
        with self.chan.lock:
            self.chan.next_id += 1
            call_id = self.chan.next_id
            paused = threading.get_ident() == self.main_thread
            if paused:
                self.timer.pause()
            try:
                self.chan.send({"type": "call", "id": call_id, "fn": fn, "args": args})
                reply = self.chan.recv()
                if reply.get("type") == "exit":
                    os._exit(0)  # the host is closing the REPL while a sub-call was pending
            finally:
                if paused:
                    self.timer.resume()
        if reply.get("fatal"):
            raise FatalCall(reply.get("error", "run stopped"))
        if reply.get("error"):
            raise RuntimeError(reply["error"])
        return reply["results"]

    def llm_query(self, prompt, model=None) -> str:
        """Ask the sub model one question; returns its answer as a string."""
        return self._call("llm_query", {"prompts": [_text(prompt)], "model": model})[0]

    def llm_query_batched(self, prompts, model=None) -> list:
        """Ask the sub model many questions in parallel; answers in order ('Error: ...' for failures)."""
        if isinstance(prompts, str):
            raise TypeError("llm_query_batched expects a list of prompts, not a string")
        prompts = [_text(p) for p in prompts]
        if not prompts:
            return []
        return self._call("llm_query", {"prompts": prompts, "model": model, "batched": True})

    def rlm_query(self, question, sub_context=None) -> str:
        """Start a child RLM (its own REPL) on sub_context; returns its answer."""
        ctx = self.reserved["context"] if sub_context is None else sub_context
        return self._call("rlm_query", {"questions": [_text(question)], "contexts": [_text(ctx)]})[0]

    def rlm_query_batched(self, questions, sub_contexts) -> list:
        """Child RLMs in parallel, one per (question, sub_context) pair; answers in order."""
        questions, sub_contexts = list(questions), list(sub_contexts)
        if len(questions) != len(sub_contexts):
            raise ValueError(f"{len(questions)} questions but {len(sub_contexts)} sub_contexts")
        if not questions:
            return []
        args = {"questions": [_text(q) for q in questions], "contexts": [_text(c) for c in sub_contexts], "batched": True}
        return self._call("rlm_query", args)

    def FINAL(self, *args, **kw) -> None:
        """Submit the final answer and stop this code block: FINAL(answer, evidence=[...]), where the
        evidence is exact quotes from `context`, (start, end) offsets, search hits or re matches."""
        self._submit(*_helpers().final_args(args, kw))
        raise Submitted()

    def _submit(self, value, evidence: list) -> None:
        self.final, self.evidence, self.has_final = _answer_text(value), self.finder.take(*evidence), True

    def _loose_final(self, code: str) -> bool:
        """FINAL("…", evidence=["…"]) unparsable only for a quote character inside the quote: submit it."""
        loose = _helpers().loose_final(code)
        if loose is not None:
            self._submit(*loose)
        return loose is not None

    def FINAL_VAR(self, name, *evidence, **kw) -> None:
        """Submit the value of the REPL variable `name` as the final answer."""
        key = str(name).strip().strip("'\"")
        if key not in self.namespace:
            raise NameError(f"FINAL_VAR: no variable named {key!r} in the REPL")
        self.FINAL(self.namespace[key], *evidence, **kw)

    # ---- finding and citing (helpers.py) ---------------------------------------------------------
    @property
    def finder(self):
        found = self.__dict__.get("_finder")
        if found is None:
            found = self._finder = _helpers().Finder(lambda: self.reserved["context"], self.locate)
        return found

    def locate(self, offset) -> str:
        """Map an offset in `context` to 'file p.N', 'file ch. 7', 'file Sheet1 row 120', 'file line N'..."""
        sources, text = self.reserved["sources"], self.reserved["context"]
        if not sources:
            return f"offset {offset}"
        offset = max(0, min(int(offset), max(len(text) - 1, 0)))
        src = sources[max(bisect.bisect_right(self._starts, offset) - 1, 0)]
        pages = src.get("pages") or []
        if pages:
            p = pages[max(bisect.bisect_right([p["start"] for p in pages], offset) - 1, 0)]
            label, row = p["label"] if "label" in p else f"p.{p['page']}", p.get("row") or 0
            if row:
                row += text.count(chr(10), p["start"], max(min(offset, p["end"]), p["start"]))
                return f"{src['name']} {label} row {row}" if label else f"{src['name']} row {row}"
            return f"{src['name']} {label}"
        return f"{src['name']} line {text.count(chr(10), src['start'], max(offset, src['start'])) + 1}"

    def SHOW_VARS(self) -> dict:
        """The names and types of the variables you created."""
        return {k: type(v).__name__ for k, v in self.namespace.items() if not k.startswith("_") and k not in self.reserved}

    # ---- execution ------------------------------------------------------------------------------
    def execute(self, code: str) -> dict:
        out = BoundedText(self.opts.max_output)
        error = None
        self.final, self.has_final, self.evidence = None, False, []
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        self.timer.start()
        try:
            self._run(code)
        except Submitted:
            pass
        except ExecTimeout:
            error = f"TimeoutError: this code block ran longer than {self.opts.soft_timeout:g} s and was stopped (variables are kept)"
        except FatalCall as exc:
            error = f"Stopped: {exc}"
        except SyntaxError as exc:
            error = None if self._loose_final(code) else "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        except BaseException:
            error = _format_exc(code) + _helpers().unquoted_hint(code, sys.exc_info()[1])
        finally:
            self.timer.stop()
            sys.stdout, sys.stderr = old_out, old_err
        if isinstance(error, str) and self.has_final:
            error = None  # FINAL was reached; a later exception (e.g. swallowed Submitted) is moot
        notes = self._restore_reserved()
        stdout = out.getvalue() + self._raw_output()
        return {"type": "result", "stdout": stdout, "error": error, "final": self.final if self.has_final else None,
                "has_final": self.has_final, "notes": notes, "evidence": self.evidence if self.has_final else []}

    def _run(self, code: str) -> None:
        tree = ast.parse(code, "<repl>", "exec")
        defs = [n for n in tree.body if isinstance(n, DEF_NODES)]
        try:
            for run in _sibling("worker_state").runs(tree.body):  # a bare expression's value is printed
                if isinstance(run, ast.Expr):
                    value = eval(compile(ast.Expression(run.value), "<repl>", "eval"), self.namespace)
                    if value is not None:
                        print(repr(value))
                else:
                    exec(compile(ast.Module(run, type_ignores=[]), "<repl>", "exec"), self.namespace)
        finally:  # also when FINAL or an error ended the block: what ran is defined
            _sibling("worker_state").record_defs(self, code, defs)

    def _restore_reserved(self) -> list[str]:
        notes = []
        for name, obj in self.reserved.items():
            if self.namespace.get(name) is not obj:
                self.namespace[name] = obj
                notes.append(f"`{name}` is reserved and was restored; store your results under another name.")
        return notes

    def _raw_output(self) -> str:
        """Whatever was written straight to fds 1/2 (os.write, C code) since the last exec."""
        try:
            with open(self.out_path, "r+b") as f:
                data = f.read(self.opts.max_output + 1)
                if data:
                    f.truncate(0)  # ftruncate: path-based truncate() is not on the seccomp allowlist
        except OSError:
            return ""
        if not data:
            return ""
        text = data[: self.opts.max_output].decode("utf-8", "replace")
        more = " [truncated]" if len(data) > self.opts.max_output else ""
        return f"\n[raw output on fd 1/2{more}]\n{text}"


CONTROL = ("save", "load", "vars")
DEF_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


def _control(repl: "Repl", msg: dict) -> dict:
    """save / load / vars requests from the host (worker_state.py); any failure is reported, never fatal."""
    return _sibling("worker_state").control(repl, msg)


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


def _helpers():
    _sibling("counting")  # helpers.py finds it in sys.modules
    return _sibling("helpers")


def _answer_text(value) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=2)
    except (TypeError, ValueError):
        return str(value)


def _format_exc(code: str) -> str:
    etype, evalue, tb = sys.exc_info()
    frames = traceback.extract_tb(tb)
    frames = [f for f in frames if f.filename == "<repl>"] or frames[-1:]
    lines = code.splitlines()
    out = ["Traceback (most recent call last):"]
    for f in frames[-5:]:
        src = lines[f.lineno - 1].strip() if f.lineno and 0 < f.lineno <= len(lines) else ""
        out.append(f'  line {f.lineno}, in {f.name}\n    {src}')
    out.extend(traceback.format_exception_only(etype, evalue))
    return "\n".join(s.rstrip("\n") for s in out)


def _limits(opts: argparse.Namespace) -> None:
    import resource

    def cap(which, value):
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    if opts.memory_mb:
        cap(resource.RLIMIT_AS, opts.memory_mb * 1024 * 1024)
    if opts.file_mb:
        cap(resource.RLIMIT_FSIZE, opts.file_mb * 1024 * 1024)
    if opts.cpu_seconds:
        cap(resource.RLIMIT_CPU, opts.cpu_seconds)
    if opts.nproc:  # only asked for inside a user namespace, where the kernel counts that namespace's tasks
        cap(resource.RLIMIT_NPROC, opts.nproc)
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_NOFILE, opts.open_files or 256)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversize writes fail with EFBIG instead of killing us




def _confine_module():
    return _sibling("confine")


def _namespaces(opts: argparse.Namespace, spec: dict) -> list[str]:
    """New namespaces before anything else; the process that returns is pid 1 of the new pid namespace."""
    if "namespaces" not in (spec.get("layers") or []):
        return []
    return _confine_module().enter_namespaces(spec, keep_fds=(opts.fd_in, opts.fd_out))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    for name in ("--context", "--sources", "--raw-output"):
        p.add_argument(name, required=True)
    p.add_argument("--in", dest="fd_in", type=int, required=True)
    p.add_argument("--out", dest="fd_out", type=int, required=True)
    p.add_argument("--soft-timeout", type=float, default=60.0)
    for name, default in (("--max-output", 10_000), ("--memory-mb", 0), ("--file-mb", 0), ("--cpu-seconds", 0),
                          ("--open-files", 256), ("--nproc", 0), ("--max-threads", 0)):
        p.add_argument(name, type=int, default=default)
    p.add_argument("--confine", default="")
    return p.parse_args(argv)


def _start(opts: argparse.Namespace) -> tuple[Channel, Repl] | None:
    """Namespaces, context, rlimits, confinement, thread cap; then `ready` (or why confinement failed)."""
    t0 = time.perf_counter()
    spec = json.loads(opts.confine) if opts.confine else {}
    try:
        layers = _namespaces(opts, spec)
    except Exception as exc:  # the host decides whether a missing layer is fatal
        Channel(opts.fd_in, opts.fd_out).send({"type": "ready", "pid": os.getpid(), "layers": [],
                                               "confine_error": f"{type(exc).__name__}: {exc}"})
        return None
    with open(opts.context, "r", encoding="utf-8", errors="surrogateescape", newline="") as f:
        context = f.read()
    with open(opts.sources, "r", encoding="utf-8") as f:
        sources = json.load(f)
    chan = Channel(opts.fd_in, opts.fd_out)
    _helpers()  # before confinement (it may deny reading files); saved search hits unpickle in a fresh worker
    _sibling("worker_state")
    _limits(opts)
    try:
        layers += _confine_module().apply(spec) if spec else []
    except Exception as exc:
        chan.send({"type": "ready", "pid": os.getpid(), "layers": [], "confine_error": f"{type(exc).__name__}: {exc}"})
        return None
    if opts.max_threads:
        ThreadCap(opts.max_threads).install()
    repl = Repl(chan, context, sources, opts)
    chan.send({"type": "ready", "pid": os.getpid(), "layers": layers, "load_s": time.perf_counter() - t0})
    return chan, repl


def main(argv: list[str] | None = None) -> None:
    started = _start(_parse_args(argv))
    if started is None:
        return
    chan, repl = started
    while True:
        msg = chan.recv()
        if msg.get("type") == "exec":
            result = repl.execute(msg["code"])
            result["seq"] = msg.get("seq")
            chan.send(result)
        elif msg.get("type") in CONTROL:
            chan.send(_control(repl, msg))
        elif msg.get("type") == "exit":
            return


if __name__ == "__main__":
    main()
