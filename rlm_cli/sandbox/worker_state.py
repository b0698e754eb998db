"""Worker side of REPL state kept across questions (conversations): the variables model code made,
pickled one by one (functions, classes and imports replayed from their source instead), and their
names, types and sizes; and how a block's statements are run (`runs`). Loaded by path from worker.py; standard library only. The host never
unpickles what this writes: only a later worker does (rlm_cli/sandbox/state.py)."""
from __future__ import annotations

import ast
import pickle
import types


def control(repl, msg: dict) -> dict:
    try:
        if msg["type"] == "save":
            reply = save(repl, str(msg["path"]), int(msg["max_bytes"]))
        elif msg["type"] == "load":
            reply = load(repl, str(msg["path"]))
        else:
            reply = describe(repl)
    except BaseException as exc:  # noqa: BLE001 - reported to the host, never fatal
        reply = {"type": msg["type"] + "_failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
    reply["seq"] = msg.get("seq")
    return reply


def user_vars(repl):
    """(name, value) of the variables model code created: not reserved, not private, not modules."""
    final = type(repl).FINAL
    for name, value in list(repl.namespace.items()):
        if name.startswith("_") or name in repl.reserved or isinstance(value, types.ModuleType):
            continue
        if getattr(value, "__func__", None) is final:  # the Final/final aliases
            continue
        yield name, value


def save(repl, path: str, max_bytes: int) -> dict:
    """Pickle every picklable variable (each on its own, so one bad value loses only itself) into
    `path`. What could not be saved is listed with the reason."""
    blobs, skipped, total = {}, [], 0
    defs = [[n, src] for n, src in repl.defs.items() if n in repl.namespace]
    for name, value in user_vars(repl):
        if name in repl.defs and isinstance(value, (types.FunctionType, type)):
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


def load(repl, path: str) -> dict:
    """Unpickle (here, inside the sandbox: never in the host) what a previous worker saved."""
    with open(path, "rb") as f:
        saved = pickle.load(f)
    loaded, failed = [], []
    for name, src in saved.get("defs") or []:
        try:
            exec(compile(src, "<repl>", "exec"), repl.namespace)
            repl.defs[name] = src
            loaded.append(name)
        except BaseException as exc:  # noqa: BLE001
            failed.append([name, f"could not be redefined ({type(exc).__name__}: {exc})"[:200]])
    for name, blob in (saved.get("values") or {}).items():
        if not isinstance(name, str) or name in repl.reserved or name.startswith("_"):
            continue
        try:
            repl.namespace[name] = pickle.loads(blob)
            loaded.append(name)
        except BaseException as exc:  # noqa: BLE001
            failed.append([name, f"could not be restored ({type(exc).__name__})"])
    return {"type": "loaded", "loaded": sorted(loaded), "skipped": failed}


def describe(repl) -> dict:
    """Names, types and sizes of the variables (never their content)."""
    out = []
    for name, value in user_vars(repl):
        try:
            size = len(value)
        except BaseException:  # noqa: BLE001
            size = None
        out.append({"name": name, "type": type(value).__name__, "size": size if isinstance(size, int) else None})
    return {"type": "vars", "vars": out}


def record_defs(repl, code: str, nodes: list) -> None:
    """Remember the source of top-level def / class / import statements that ran: they are replayed
    before saved values are restored (a function or module itself is not pickled)."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [(a.asname or a.name).split(".")[0] for a in node.names]
        else:
            names = [node.name]
        src = ast.get_source_segment(code, node)
        for name in names:
            if src and name in repl.namespace and name not in repl.reserved:
                repl.defs.pop(name, None)
                repl.defs[name] = src  # (re-inserted: dicts keep the order of the latest definitions)


def runs(body: list) -> list:
    """The block's top-level statements as runs to execute: each bare expression alone (its value is
    printed, as in a notebook cell where every expression shows: `search("a")` then `search("b")` shows
    both), a string constant that is not the last statement kept with the code (a comment-like string),
    and the statements between them together."""
    out, chunk = [], []
    for i, node in enumerate(body):
        shown = isinstance(node, ast.Expr) and not (
            isinstance(node.value, ast.Constant) and isinstance(node.value.value, str) and i < len(body) - 1)
        if shown:
            if chunk:
                out.append(chunk)
                chunk = []
            out.append(node)
        else:
            chunk.append(node)
    if chunk:
        out.append(chunk)
    return out
