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
import io
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
)


class Submitted(BaseException):
    """Raised by FINAL to stop the block; BaseException so `except Exception` does not swallow it."""


class FatalCall(BaseException):
    """The host refused a sub-call because a budget ran out: the run is over."""


class ExecTimeout(BaseException):
    """The soft per-exec timeout fired inside the worker (variables are kept)."""


class BoundedText(io.TextIOBase):
    """A text stream that keeps the head and tail of what is written, counting the rest."""

    def __init__(self, limit: int):
        self.limit = max(limit, 0)
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, s) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s)
        room = self.limit * 2 // 3 - self.head_len
        if room > 0:
            self.head.append(s[:room])
            self.head_len += min(n, room)
            s = s[room:]
        if s:
            keep = self.limit // 3
            merged = self.tail + s
            self.dropped += max(len(merged) - keep, 0)
            self.tail = merged[-keep:] if keep else ""
        return n

    def getvalue(self) -> str:
        text = "".join(self.head)
        if self.dropped:
            text += f"\n... [output truncated: {self.dropped:,} characters omitted] ...\n"
        return text + self.tail


class Channel:
    """JSON lines over two pipes. A lock makes calls from threads in model code safe."""

    def __init__(self, fd_in: int, fd_out: int):
        self.rfile = os.fdopen(fd_in, "rb", buffering=1 << 16)
        self.wfd = fd_out
        self.lock = threading.Lock()
        self.next_id = 0

    def send(self, msg: dict) -> None:
        data = (json.dumps(msg, ensure_ascii=False) + "\n").encode("utf-8", "surrogatepass")
        view = memoryview(data)
        while view:
            n = os.write(self.wfd, view)
            view = view[n:]

    def recv(self) -> dict:
        line = self.rfile.readline()
        if not line:
            os._exit(0)  # host is gone
        return json.loads(line)


class Timer:
    """The soft exec timeout. Paused while the worker waits on the host for a sub-call."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.remaining = 0.0
        if seconds > 0:
            signal.signal(signal.SIGALRM, self._fire)

    def _fire(self, signum, frame):
        raise ExecTimeout()

    def start(self) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def pause(self) -> None:
        if self.seconds > 0:
            self.remaining = signal.setitimer(signal.ITIMER_REAL, 0)[0]

    def resume(self) -> None:
        if self.seconds > 0 and self.remaining > 0:
            signal.setitimer(signal.ITIMER_REAL, self.remaining)

    def stop(self) -> None:
        if self.seconds > 0:
            signal.setitimer(signal.ITIMER_REAL, 0)


class ThreadCap:
    """At most `limit` threads of model code at once (threading, concurrent.futures, _thread). ctypes can get
    past this count; the host's seccomp supervisor (limits.ThreadSupervisor) is the kernel-side cap."""

    def __init__(self, limit: int):
        self.limit, self.live, self.lock = limit, 0, threading.Lock()

    def install(self) -> None:
        import _thread

        for mod, name in ((_thread, "start_new_thread"), (_thread, "start_joinable_thread"),
                          (threading, "_start_new_thread"), (threading, "_start_joinable_thread")):
            if getattr(mod, name, None) is not None:
                setattr(mod, name, self._wrap(getattr(mod, name)))

    def _count(self, n: int) -> None:
        with self.lock:
            if n > 0 and self.live >= self.limit:
                raise RuntimeError(f"can't start new thread: the REPL allows at most {self.limit} threads at once")
            self.live += n

    def _wrap(self, original):
        def start(function, *args, **kwargs):
            def run(*a, **k):
                try:
                    return function(*a, **k)
                finally:
                    self._count(-1)

            self._count(1)
            try:
                return original(run, *args, **kwargs)
            except BaseException:
                self._count(-1)
                raise

        return start


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
            "search": self.search,
            "read": self.read,
            "cite": self.cite,
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
        value, evidence = _helpers().final_args(args, kw)
        self.final = _answer_text(value)
        self.evidence = self.finder.take(*evidence)
        self.has_final = True
        raise Submitted()

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

    def search(self, query, k=5, regex=False):
        """Ranked passages of `context` for the words of `query` (regex=True: the pattern's matches)."""
        return self.finder.search(query, k, regex)

    def read(self, offset, chars=1500) -> str:
        """The text of `context` around an offset (an int, a search hit or a re match)."""
        return self.finder.read(offset, chars)

    def cite(self, *items) -> str:
        """Keep evidence for the next FINAL (quotes, offsets, hits, matches); returns where it is."""
        return self.finder.cite(*items)

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

    # ---- state kept across questions (conversations) ----------------------------------------------
    def _user_vars(self):
        """(name, value) of the variables model code created: not reserved, not private, not modules."""
        import types

        for name, value in list(self.namespace.items()):
            if name.startswith("_") or name in self.reserved or isinstance(value, types.ModuleType):
                continue
            if getattr(value, "__func__", None) is Repl.FINAL:  # the Final/final aliases
                continue
            yield name, value

    def save_state(self, path: str, max_bytes: int) -> dict:
        """Pickle every picklable variable (each on its own, so one bad value loses only itself) into
        `path` (in scratch; the host moves it). What could not be saved is listed with the reason."""
        import pickle

        import types

        blobs, skipped, total = {}, [], 0
        defs = [[n, src] for n, src in self.defs.items() if n in self.namespace]
        for name, value in self._user_vars():
            if name in self.defs and isinstance(value, (types.FunctionType, type)):
                continue  # replayed from its source
            try:
                blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException as exc:  # noqa: BLE001 - anything model code made can fail to pickle
                skipped.append([name, f"{type(value).__name__}, not picklable ({type(exc).__name__})"])
                continue
            if total + len(blob) > max_bytes:
                skipped.append([name, f"{type(value).__name__}, {len(blob):,} bytes: over the {max_bytes:,}-byte cap"])
                continue
            blobs[name], total = blob, total + len(blob)
        with open(path, "wb") as f:
            pickle.dump({"defs": defs, "values": blobs}, f, protocol=pickle.HIGHEST_PROTOCOL)
        return {"type": "saved", "saved": sorted(set(blobs) | {n for n, _ in defs}), "skipped": skipped, "bytes": total}

    def load_state(self, path: str) -> dict:
        """Unpickle (here, inside the sandbox: never in the host) what a previous worker saved."""
        import pickle

        with open(path, "rb") as f:
            saved = pickle.load(f)
        loaded, failed = [], []
        for name, src in saved.get("defs") or []:
            try:
                exec(compile(src, "<repl>", "exec"), self.namespace)
                self.defs[name] = src
                loaded.append(name)
            except BaseException as exc:  # noqa: BLE001
                failed.append([name, f"could not be redefined ({type(exc).__name__}: {exc})"[:200]])
        for name, blob in (saved.get("values") or {}).items():
            if not isinstance(name, str) or name in self.reserved or name.startswith("_"):
                continue
            try:
                self.namespace[name] = pickle.loads(blob)
                loaded.append(name)
            except BaseException as exc:  # noqa: BLE001
                failed.append([name, f"could not be restored ({type(exc).__name__})"])
        return {"type": "loaded", "loaded": sorted(loaded), "skipped": failed}

    def describe_vars(self) -> dict:
        """Names, types and sizes of the variables (never their content)."""
        out = []
        for name, value in self._user_vars():
            try:
                size = len(value)
            except BaseException:  # noqa: BLE001
                size = None
            out.append({"name": name, "type": type(value).__name__, "size": size if isinstance(size, int) else None})
        return {"type": "vars", "vars": out}

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
            error = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        except BaseException:
            error = _format_exc(code)
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
        last = tree.body[-1] if tree.body else None
        try:
            if isinstance(last, ast.Expr):
                tree.body.pop()
                exec(compile(tree, "<repl>", "exec"), self.namespace)
                value = eval(compile(ast.Expression(last.value), "<repl>", "eval"), self.namespace)
                if value is not None:
                    print(repr(value))
            else:
                exec(compile(tree, "<repl>", "exec"), self.namespace)
        finally:  # also when FINAL or an error ended the block: what ran is defined
            self._record_defs(code, defs)

    def _record_defs(self, code: str, nodes: list) -> None:
        """Remember the source of top-level def / class / import statements that ran: they are
        replayed before saved values are restored (a function or module itself is not pickled)."""
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [(a.asname or a.name).split(".")[0] for a in node.names]
            else:
                names = [node.name]
            src = ast.get_source_segment(code, node)
            for name in names:
                if src and name in self.namespace and name not in self.reserved:
                    self.defs.pop(name, None)
                    self.defs[name] = src  # (re-inserted: dicts keep the order of the latest definitions)

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
    """save / load / vars requests from the host; any failure is reported, never fatal."""
    try:
        if msg["type"] == "save":
            reply = repl.save_state(str(msg["path"]), int(msg["max_bytes"]))
        elif msg["type"] == "load":
            reply = repl.load_state(str(msg["path"]))
        else:
            reply = repl.describe_vars()
    except BaseException as exc:  # noqa: BLE001
        reply = {"type": msg["type"] + "_failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    reply["seq"] = msg.get("seq")
    return reply


def _text(value) -> str:
    return value if isinstance(value, str) else str(value)


_helpers_mod = None


def _helpers():
    """helpers.py beside us (search, read, cite), loaded by path and registered as `_rlm_helpers` so the
    hits a variable holds pickle (conversations)."""
    global _helpers_mod
    if _helpers_mod is None:
        import importlib.util

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "helpers.py")
        spec = importlib.util.spec_from_file_location("_rlm_helpers", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["_rlm_helpers"] = mod
        spec.loader.exec_module(mod)
        _helpers_mod = mod
    return _helpers_mod


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


_confine_mod = None


def _confine_module():
    """confine.py beside us, loaded by path (the worker runs with -I: its directory is not on sys.path)."""
    global _confine_mod
    if _confine_mod is None:
        import importlib.util

        spec = importlib.util.spec_from_file_location("_rlm_confine", os.path.join(os.path.dirname(__file__), "confine.py"))
        _confine_mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_confine_mod)
    return _confine_mod


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
