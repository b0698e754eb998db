"""The work behind `rlm chat`: open the conversation, then read questions (a terminal session with
prompt_toolkit, or lines from a pipe) and answer each through the same Conversation as `rlm ask -c`."""
from __future__ import annotations

import json

from ..errors import ExitStatus, RLMError, UsageError
from .options import AskOptions


def run_chat(o: AskOptions, env) -> int:
    from .ask_run import open_conversation

    if not o.sources and not (o.continue_latest or o.conversation):
        raise UsageError("rlm chat needs SOURCES to talk about (or -c / --conversation NAME to continue one)")
    if "-" in o.sources:
        raise UsageError("rlm chat reads its questions from stdin: '-' cannot be a source here")
    display = _display_for_setup(o, env)
    conv = open_conversation(o, env, display, stdin=False)
    try:
        for note in conv.resolved.backend.warm_up([conv.resolved.root_model, conv.resolved.sub_model]) or []:
            display.notice(note)
        from .chat_session import ChatSession

        session = ChatSession(o, env, conv)
        return session.interactive() if env.stdin_isatty and _stdout_tty(env) else session.piped()
    finally:
        conv.close()


def _display_for_setup(o: AskOptions, env):
    from ..ui.display import PlainLines

    return PlainLines(env.stderr, verbose=False, quiet=o.quiet)


def _stdout_tty(env) -> bool:
    try:
        return env.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def json_line(result) -> str:
    from ..ui.output import result_object

    return json.dumps(result_object(result), ensure_ascii=False) + "\n"


__all__ = ["run_chat", "json_line", "ExitStatus", "RLMError"]
