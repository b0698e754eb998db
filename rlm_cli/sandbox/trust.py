"""The host trusts nothing from the worker (docs/sandbox.md, "The host trusts nothing from the worker").

Model-written code runs in the worker and can write anything on the protocol pipe: forged results,
wrong types, huge strings, deeply nested JSON, lone surrogates, any model name. Every message is
checked here before the host acts on it: parsed with a depth limit, required to be an object of
the expected shape, every string capped (cut with a note where a shortened value is still useful,
refused where it is not) and repaired (lone surrogates -> U+FFFD), secrets redacted (known values
only) before anything is shown to a model. Sub-call model names are checked against the run's
configured models by `allowed_model` (called by the engine for every llm_query).
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .. import redact
from ..ui.sanitize import fix_unicode

MAX_DEPTH = 6  # nesting of one message (the protocol needs 3: {"args": {"prompts": [...]}})
MAX_NOTES = 16
NOTE_CHARS = 1_000
MODEL_NAME_CHARS = 256


class Violation(Exception):
    """The worker broke the protocol: the host restarts it (its variables are lost)."""


class CallRefused(Exception):
    """A sub-call the host will not serve (the model gets the message as the call's error);
    `fatal` ends the run (a budget ran out)."""

    def __init__(self, message: str, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal


@dataclass
class Caps:
    """What the host accepts from one worker message (SandboxOptions sets them; docs/sandbox.md)."""

    output_chars: int = 10_000  # the worker's own cap on captured output; the host allows head + raw fd output
    final_chars: int = 1_000_000  # a longer FINAL answer is cut, with a warning
    prompt_chars: int = 4_000_000  # one llm_query prompt (larger ones are refused)
    question_chars: int = 100_000  # one rlm_query question (larger ones are refused)
    batch: int = 1024  # prompts/questions in one call

    @property
    def stdout_chars(self) -> int:
        return 2 * self.output_chars + 1_000  # printed output + output written straight to fds 1/2 + notes

    @property
    def error_chars(self) -> int:
        return self.output_chars


# ---- parsing ---------------------------------------------------------------------------------------
def parse_message(line: bytes) -> dict:
    """One JSON line from the worker as a dict, or Violation. Nesting is limited while parsing (the C
    decoder stops at the interpreter's recursion limit: a 200k-deep line fails after ~1,000 levels,
    with RecursionError caught here) and after it (MAX_DEPTH, checked without recursion)."""
    try:
        msg = json.loads(line)
    except RecursionError:
        raise Violation(f"a message from the REPL is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise Violation("malformed message on the REPL channel") from None
    except MemoryError:
        raise Violation("a message from the REPL was too large to parse") from None
    if not isinstance(msg, dict):
        raise Violation(f"a message from the REPL is a JSON {type(msg).__name__}, not an object")
    if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _too_deep(msg):  # fewer openers: cannot be deeper
        raise Violation(f"a message from the REPL is nested deeper than {MAX_DEPTH} levels")
    return msg


def _too_deep(obj) -> bool:
    """Whether objects/arrays nest deeper than MAX_DEPTH (iterative: no recursion on hostile data)."""
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


# ---- values ----------------------------------------------------------------------------------------
def text(value, name: str, *, optional: bool = False) -> str | None:
    """A string field as sent (cut it, then repair it: `shown`), or Violation if it is another type."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise Violation(f"the REPL sent {name} as {type(value).__name__}, not a string")
    return value


def shown(value: str, limit: int, what: str) -> str:
    """What a model may see of a worker string: cut to `limit`, Unicode repaired, known secrets redacted
    (in that order: a 250 MB string is scanned only after it is cut)."""
    return model_text(fix_unicode(cut(value, limit, what)))


def cut(value: str, limit: int, what: str) -> str:
    """`value` within `limit` characters: its head and tail around a note saying how much was cut."""
    if len(value) <= limit:
        return value
    dropped = len(value) - limit
    head = max(limit * 2 // 3, 0)
    tail = max(limit - head, 0)
    note = f"\n... [rlm host: {what} cut: {dropped:,} of {len(value):,} characters omitted (cap {limit:,})] ...\n"
    return value[:head] + note + (value[-tail:] if tail else "")


def model_text(value: str) -> str:
    """What may be shown to a model: known secret values redacted."""
    return redact.redact_known(value)


# ---- calls -----------------------------------------------------------------------------------------
@dataclass
class Call:
    """A validated sub-call: what the host hands to the engine's handler (plain dict form via `args`)."""

    fn: str
    items: list[str]  # prompts (llm_query) or questions (rlm_query)
    contexts: list[str] | None = None
    model: str | None = None
    batched: bool = False

    @property
    def args(self) -> dict:
        if self.fn == "llm_query":
            return {"prompts": self.items, "model": self.model, "batched": self.batched}
        return {"questions": self.items, "contexts": self.contexts, "batched": self.batched}


def check_call(fn, args, caps: Caps) -> Call:
    """Validate a call message; raises CallRefused with a message for the model."""
    if fn not in ("llm_query", "rlm_query") or not isinstance(args, dict):
        raise CallRefused(f"unknown function {str(fn)[:40]!r}")
    items = args.get("prompts") if fn == "llm_query" else args.get("questions")
    what = "prompts" if fn == "llm_query" else "questions"
    if not isinstance(items, list) or not items or not all(isinstance(x, str) for x in items):
        raise CallRefused(f"{fn}: {what} must be a non-empty list of strings")
    if len(items) > caps.batch:
        raise CallRefused(f"a batch may hold at most {caps.batch} items (got {len(items)}); split it")
    limit = caps.prompt_chars if fn == "llm_query" else caps.question_chars
    longest = max(len(x) for x in items)
    if longest > limit:
        raise CallRefused(f"{fn}: a {what[:-1]} of {longest:,} characters is over the {limit:,}-character cap; "
                      "send smaller chunks")
    call = Call(fn, [model_text(fix_unicode(x)) for x in items], batched=args.get("batched") is True)
    if fn == "rlm_query":
        ctxs = args.get("contexts")
        if not isinstance(ctxs, list) or len(ctxs) != len(items) or not all(isinstance(c, str) for c in ctxs):
            raise CallRefused("rlm_query: one string sub_context per question is required")
        call.contexts = [model_text(fix_unicode(c)) for c in ctxs]
    model = args.get("model")
    if model is not None:
        if not isinstance(model, str) or not model or len(model) > MODEL_NAME_CHARS:
            raise CallRefused(f"{fn}: model must be the name of one of the run's models")
        call.model = model
    return call


def allowed_model(requested: str | None, default: str, allowed) -> str:
    """The model a sub-call may use: `default` when none is asked for, else one of `allowed` (the run's
    configured models) exactly as configured. Anything else (another provider, `scripted/<path>`,
    `local/...`) is refused: the host acts only on values the user configured."""
    if requested is None or requested == default:
        return default
    if requested in allowed:
        return requested
    names = ", ".join(sorted(set(allowed) | {default}))
    raise CallRefused(f"model {requested[:MODEL_NAME_CHARS]!r} is not one of this run's models ({names}); "
                      "omit model= to use the sub model")


def check_prompt(prompt: str, limit: int) -> None:
    """Every sub-model prompt within the host's cap, whatever the model's window (also the prompt
    built from a sub_context when rlm_query falls back to llm_query at the maximum depth)."""
    if len(prompt) > limit:
        from ..errors import ContextOverflow

        raise ContextOverflow(f"prompt of {len(prompt):,} characters is over the {limit:,}-character cap on one "
                              "sub-call: split it into smaller chunks")


# ---- results ---------------------------------------------------------------------------------------
@dataclass
class Result:
    stdout: str
    error: str | None
    final: str | None
    has_final: bool
    notes: list[str]
    warnings: list[str]


def check_result(msg: dict, caps: Caps) -> Result:
    """Types checked (Violation), sizes capped (cut with a note), Unicode repaired, secrets redacted."""
    stdout = text(msg.get("stdout", ""), "stdout")
    error = text(msg.get("error"), "error", optional=True)
    final = text(msg.get("final"), "final", optional=True)
    notes = msg.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise Violation("the REPL sent notes that are not a list of strings")
    has_final = msg.get("has_final", False)
    if not isinstance(has_final, bool):
        raise Violation("the REPL sent has_final that is not a boolean")
    warnings = []
    if final is not None and len(final) > caps.final_chars:
        warnings.append(f"the answer had {len(final):,} characters: cut to the first {caps.final_chars:,} "
                        "(the cap on a FINAL answer)")
        final = final[:caps.final_chars] + f"\n\n[rlm: answer cut: {len(final) - caps.final_chars:,} more characters were dropped]\n"
    return Result(
        stdout=shown(stdout, caps.stdout_chars, "output"),
        error=shown(error, caps.error_chars, "error") if error is not None else None,
        final=redact.redact_known(fix_unicode(final)) if final is not None else None,
        has_final=has_final, notes=[shown(n, NOTE_CHARS, "note") for n in notes[:MAX_NOTES]], warnings=warnings,
    )
