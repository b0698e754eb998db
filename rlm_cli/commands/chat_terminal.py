"""`rlm chat` on a terminal: prompt_toolkit for line editing and history, the live tree on stderr per
question, the answer as Markdown."""
from __future__ import annotations

from .options import AskOptions


class Terminal:
    def __init__(self, env, o: AskOptions):
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from rich.console import Console

        from .. import paths

        self.env, self.o = env, o
        history = paths.ensure(paths.state_dir()) / "chat_history"
        self.prompt = PromptSession(history=FileHistory(str(history)))
        no_color = bool(env.environ.get("NO_COLOR")) or o.color == "never"
        self.console = Console(file=env.stdout, highlight=False, emoji=False, no_color=no_color)

    def read(self) -> str | None:
        """The next line typed; None at Ctrl-D. Ctrl-C at the prompt clears the line."""
        while True:
            try:
                return self.prompt.prompt("rlm> ")
            except KeyboardInterrupt:
                continue
            except EOFError:
                return None

    def say(self, text: str) -> None:
        from rich.text import Text

        from ..ui.sanitize import clean

        self.console.print(Text(clean(text)))  # messages quote answers, errors and file names

    def answer(self, session, question: str) -> None:
        from .ask_run import make_display

        display = make_display(self.o, self.env)
        try:
            result = session.ask(question, display)
        except KeyboardInterrupt:  # Ctrl-C outside the run itself: the question is dropped
            self.say("(stopped)")
            return
        finally:
            display.close()
        if result.status == "interrupted":
            self.say("(stopped: the conversation and its variables are kept)")
        elif result.answer is not None and not getattr(display, "shows_answer", False):
            from rich.markdown import Markdown

            from ..ui.sanitize import clean

            self.console.print(Markdown(clean(result.answer), hyperlinks=False))  # as the answer panel
        elif result.answer is None and result.status != "ok":
            self.say(f"no answer ({result.status}): {result.error}")
