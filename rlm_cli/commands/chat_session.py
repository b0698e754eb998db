"""One `rlm chat` session: questions go to the Conversation, lines starting with '/' are commands."""
from __future__ import annotations

import shlex

from ..errors import ExitStatus, RLMError
from .options import AskOptions

HELP = """Commands:
  /add SOURCE...   read more files, directories or URLs into the conversation (variables are kept)
  /sources         the documents in the conversation
  /vars            the REPL's variables (names, types, sizes)
  /cost            calls, tokens and cost so far
  /model NAME      use another root model for the next questions
  /save [NAME]     save the REPL's variables now (and name the conversation NAME)
  /reset           a fresh REPL: drop every variable (the questions and answers so far are kept)
  /help            this list
  /quit            end the session (Ctrl-D too); Ctrl-C stops the current question only"""
QUIT = object()


class ChatSession:
    def __init__(self, o: AskOptions, env, conv):
        self.o, self.env, self.conv = o, env, conv
        self.code = ExitStatus.OK
        self.out = env.stderr  # where command output goes (stdout carries only answers when piped)

    # ---- from a pipe ----------------------------------------------------------------------------------
    def piped(self) -> int:
        from .ask_run import make_display

        for raw in self.env.stdin:
            line = (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw).strip()
            if not line:
                continue
            if line.startswith("/"):
                if self.command(line) is QUIT:
                    break
                continue
            display = make_display(self.o, self.env)
            try:
                result = self.ask(line, display)
            finally:
                display.close()
            self._write_answer(result)
        return int(self.code)

    def _write_answer(self, result) -> None:
        from .chat_run import json_line

        from .delivery import write_stdout

        if self.o.fmt == "json":
            write_stdout(self.env, json_line(result), True)
        elif result.answer is not None:
            write_stdout(self.env, result.answer if result.answer.endswith("\n") else result.answer + "\n", False)
        else:
            write_stdout(self.env, "\n", False)  # one line per question, even without an answer
            self.say(f"rlm: no answer ({result.status}): {result.error}")

    # ---- on a terminal --------------------------------------------------------------------------------
    def interactive(self) -> int:
        from .chat_terminal import Terminal

        term = Terminal(self.env, self.o)
        self.out = term
        term.say(self.banner())
        while True:
            line = term.read()
            if line is None:
                break
            if not line.strip():
                continue
            if line.startswith("/"):
                if self.command(line.strip()) is QUIT:
                    break
                continue
            term.answer(self, line.strip())
        term.say(self.summary())
        return int(ExitStatus.OK)

    def ask(self, question: str, display):
        """One question through the conversation; Ctrl-C stops it and keeps the conversation."""
        from ..threads import stopping_notice

        try:
            with stopping_notice(display.notice):
                result = self.conv.ask(question, sinks=[display])
        except RLMError as exc:  # e.g. the conversation's cap is spent
            self.say(f"rlm: error: {exc.message}")
            self.code = exc.exit_status
            return _NoResult(question, exc)
        if result.status != "ok":
            self.code = max(self.code, result.exit_code) if result.status != "interrupted" else self.code
        return result

    # ---- commands -------------------------------------------------------------------------------------
    def command(self, line: str):
        try:
            name, *args = shlex.split(line)
        except ValueError as exc:
            self.say(f"rlm: {exc}")
            return None
        handler = COMMANDS.get(name)
        if handler is None:
            self.say(f"rlm: unknown command {name} (/help lists them)")
            return None
        try:
            return handler(self, args)
        except RLMError as exc:
            self.say(f"rlm: error: {exc.message}")
            return None

    def say(self, text: str) -> None:
        if hasattr(self.out, "say"):
            self.out.say(text)
        else:
            from ..ui.sanitize import clean

            self.out.write(clean(text) + "\n")
            self.out.flush()

    def banner(self) -> str:
        ctx = self.conv.context
        return (f"rlm chat: conversation {self.conv.id}, {len(ctx.sources)} source(s), {len(ctx.text):,} characters. "
                "/help for commands, Ctrl-D to end.")

    def summary(self) -> str:
        u = self.conv.meta.usage
        return (f"conversation {self.conv.id}: {len(self.conv.meta.exchanges)} question(s), {u.get('calls', 0)} calls, "
                f"{u.get('tokens', 0):,} tokens, ${u.get('cost_usd', 0):.4f}. "
                f"Continue with: rlm ask --conversation {self.conv.id} QUESTION")


class _NoResult:
    """A question that could not start (its run never existed)."""

    def __init__(self, question: str, exc: RLMError):
        self.question, self.answer, self.status, self.error = question, None, "error", exc.message
        self.exit_code = int(exc.exit_status)


def _help(s: ChatSession, args) -> None:
    s.say(HELP)


def _quit(s: ChatSession, args):
    return QUIT


def _sources(s: ChatSession, args) -> None:
    for src in s.conv.context.sources:
        pages = f", {len(src.pages)} pages" if src.pages else ""
        s.say(f"  {src.name} ({src.kind}, {src.chars:,} chars{pages})")


def _vars(s: ChatSession, args) -> None:
    found = s.conv.variables()
    s.say("\n".join(f"  {v.describe()}" for v in found) if found else "  (no variables yet)")


def _cost(s: ChatSession, args) -> None:
    s.say(s.summary().split(". Continue")[0])


def _model(s: ChatSession, args) -> None:
    from .ask_run import resolve_with

    if len(args) != 1:
        s.say("usage: /model NAME (e.g. /model openai/gpt-4.1-mini)")
        return
    chosen = dict(s.conv.meta.models, model=args[0], profile=None)
    s.conv.use(resolve_with(chosen, s.o.run), {"model": args[0], "profile": None})
    s.say(f"root model: {args[0]}")


def _add(s: ChatSession, args) -> None:
    from ..conversation.inputs import group_for, load
    from .ask_run import reading

    if not args:
        s.say("usage: /add SOURCE... (files, directories or URLs)")
        return
    more = load(args, reading(s.o, s.env))
    s.conv.add(more, group_for(s.conv.store, s.conv.id, args, more, len(s.conv.meta.inputs) + 1))
    s.say(f"added {len(more.sources)} source(s): the context is now {len(s.conv.context.text):,} characters")


def _save(s: ChatSession, args) -> None:
    if args and s.conv.store is not None:
        s.conv.rename(args[0])
    report = s.conv.save_state()
    lost = f"; not kept: {', '.join(n for n, _ in report.skipped)}" if report.skipped else ""
    error = f" ({report.error})" if report.error else ""
    s.say(f"saved {len(report.saved)} variable(s){lost}{error}. Continue later with: rlm ask --conversation {s.conv.id} ...")


def _reset(s: ChatSession, args) -> None:
    s.conv.reset()
    s.say("a fresh REPL: every variable was dropped")


COMMANDS = {"/help": _help, "/quit": _quit, "/exit": _quit, "/sources": _sources, "/vars": _vars, "/cost": _cost,
            "/model": _model, "/add": _add, "/save": _save, "/reset": _reset}
