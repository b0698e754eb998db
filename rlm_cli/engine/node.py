"""One RLM node: its REPL, its messages, and the loop: model reply -> code blocks run -> outputs back,
until code calls FINAL or the iterations run out. Sub-calls from the REPL are served by `serve`."""
from __future__ import annotations

import time

from .. import events as ev
from .. import prompts
from ..errors import LimitExceeded
from ..parsing import code_blocks
from ..redact import redact_known
from .history import fit_history
from .repeats import Repeats, asked_items, asks_where, echoes_question, numbers_not_in, words_not_in, wrong_kind
from .run import Cancelled, NoAnswer, Run


class Node:
    def __init__(self, run: Run, question: str, text: str, sources: list[dict], depth: int, node_id: str,
                 sandbox=None, preamble: str = ""):
        self.run_ = run
        self.cfg = run.config
        self.question, self.text, self.sources = question, text, sources
        self.depth, self.id = depth, node_id
        self.emit = run.emitter(node_id, depth)
        self.sandbox = sandbox  # given: a conversation's open REPL (not closed here)
        self.iterations = 0
        self.repeats = Repeats()
        self.printed: list[str] = []  # the last few REPL outputs (what a computed answer was read from)
        self.claims: list = []  # the evidence items the last FINAL carried (evidence.Claim)
        self.citations: list = []  # verified against self.text when the node answers (evidence.Citation)
        self.child_citations: list = []  # children's citations, mapped to self.text
        self.forced = False  # the answer came from the last-chance turn
        self.told: set[str] = set()  # answer checks the model was told about once ("echo", "numbers", "evidence")
        self.reading: str | None = None  # the last second reading's answer (None: it could not tell)
        self.disputed: str | None = None  # why the evidence does not bear the answer out (kept against a check)
        self.model_answer: str | None = None  # the model's own answer, when the answer is the second reading
        self.confirmed = False  # a second reading, copied from the text around the evidence, names the answer
        self.items_read: str | None = None  # the reading of the printed lookups that covers the most listed items
        self.messages = self._first_messages(preamble)

    def _first_messages(self, preamble: str) -> list[dict]:
        cfg, run = self.cfg, self.run_
        info = prompts.PromptInfo(
            question=self.question, context_chars=len(self.text), context_tokens=self._context_tokens(),
            sources=self.sources, max_iterations=cfg.limits.max_iterations, max_output=cfg.sandbox.max_output_chars,
            depth=self.depth, max_depth=cfg.limits.max_depth, sub_window_chars=(cfg.sub_window_tokens or 100_000) * 4,
            evidence_required=self._evidence_required())
        first = prompts.first_message(info, run.budget_text())
        return [{"role": "system", "content": prompts.system_prompt(info)},
                {"role": "user", "content": f"{preamble}\n\n{first}" if preamble else first}]

    # ---- the loop -----------------------------------------------------------------------------------
    def run(self) -> str:
        self.run_.usage.reach_depth(self.depth)
        parent = self.id.rsplit(".", 1)[0] if self.depth else None
        self.emit(ev.NODE_START, question=self.question, context_chars=len(self.text), parent=parent)
        try:
            if self.sandbox is not None:
                return self._loop()
            factory = self.cfg.sandbox_factory or _subprocess_sandbox
            with factory(self.text, self.sources, self.cfg.sandbox) as self.sandbox:
                return self._loop()
        except LimitExceeded as exc:
            self.emit(ev.NODE_END, status="limit", answer=None, iterations=self.iterations, error=str(exc))
            raise
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, (KeyboardInterrupt, Cancelled)) else "error"
            self.emit(ev.NODE_END, status=status, answer=None, iterations=self.iterations,
                      error=str(exc) or type(exc).__name__)
            raise

    def _loop(self) -> str:
        limit = self.cfg.limits.max_iterations
        for self.iterations in range(1, limit + 1):
            if self.depth == 0:
                self.run_.root_iterations = self.iterations
            self.emit(ev.ITERATION, iteration=self.iterations, max_iterations=limit)
            final = self.turn(self.iterations)
            answer = None if final is None else self._accept(final, self.iterations)
            if answer is not None:
                return self._answered(answer)
        self._ask_last_chance()
        final = self.turn(limit + 1, last=True)
        if final is not None:
            self.forced = True
            answer = self._accept(final, limit + 1)  # only labels: a forced answer is never sent back
            return self._answered(final if answer is None else answer)
        raise NoAnswer(f"no answer after {limit} iterations (raise --max-iterations)")

    def _accept(self, final: str, iteration: int) -> str | None:
        """Verify the evidence FINAL carried (with the children's) and return the answer, or None when it
        is refused, once each, with the model told why: an answer that only repeats the question; one with
        numbers its verified evidence does not show (and the other checks of `_checks`); with --evidence
        required, one without verified evidence; one a second reading of its evidence contradicts. The
        answer returned is the second reading when the model kept an answer it contradicts."""
        from ..evidence import dedupe, verify

        limit = self.cfg.limits.max_iterations
        citations = dedupe(verify(self.claims, self.text, self.sources) + self.child_citations)
        if not self.forced and iteration < limit and self._check_told(final, citations, iteration + 1, limit):
            return None
        if (self._evidence_required() and not self.forced and iteration < limit
                and not any(c.verified for c in citations)
                and self._tell(("evidence",), prompts.no_evidence(citations, iteration + 1, limit))):
            return None
        if self._reread(final, citations, iteration + 1, limit):
            return None
        if not self.confirmed:  # a reading of the text around the evidence that names the answer bears it out
            self.disputed = self.disputed or self._unshown(final, citations)
        self.citations = citations
        return final if self.model_answer is None else self.reading

    def _unshown(self, final: str, citations: list) -> str | None:
        """Why an answer kept after being told cannot count as supported: a looked-up answer (not a count
        or total) whose numbers, or for a short one its words, are not in its verified evidence."""
        from ..evidence import reread

        missing = asked_items(final, self.question)[1] if "items" in self.told else []
        if missing:
            return f"the answer leaves out items the question lists ({', '.join(missing[:4])})"
        quotes, where = self._shown(citations)
        if not quotes or not reread.applies(self.question):
            return None
        if numbers_not_in(final, quotes + where):
            return "the answer's numbers are not in its evidence"
        if words_not_in(final, quotes, self.question):
            return "none of the answer's words is in its evidence"
        kind = wrong_kind(final, quotes, self.question)
        if kind:
            return f"the question asks for a {kind[0]}, its evidence calls the answer a {kind[1]}"
        return None

    def _shown(self, citations: list) -> tuple[list[str], list[str]]:
        """What the verified evidence shows: its quotes, and where each is (the page/line number counts as
        shown only when the question asks where something is)."""
        places = asks_where(self.question)
        verified = [c for c in citations if c.verified]
        return [c.quote for c in verified], [f"{c.source} {c.location if places else ''}" for c in verified]

    def _check_told(self, final: str, citations: list, turn: int, limit: int) -> bool:
        """The first of `_checks` the answer fails that the model was not told about yet is sent back with
        the reason (True)."""
        return any(self._tell(checks, message) for checks, message in self._checks(final, citations, turn, limit))

    def _tell(self, checks: tuple[str, ...], message: str) -> bool:
        """Tell the model `message` unless it was told about the first of `checks` before (each check is
        told once); the others count as told with it."""
        if checks[0] in self.told:
            return False
        self.told.update(checks)
        self.messages.append({"role": "user", "content": message})
        return True

    def _checks(self, final: str, citations: list, turn: int, limit: int):
        """The checks the answer fails, in order, each with what the model is told: an answer that repeats
        the question (with a second reading of its evidence, when that names an answer: it counts as the
        reading told); one whose evidence is all made up (none of it is in the document); one that leaves
        out items the question lists; one whose numbers (or, for a short answer without numbers, words or
        kind) the verified evidence does not show. Lazy: a check runs only if the ones before it pass or
        were told."""
        quotes = [c.quote for c in citations if c.verified]
        if "echo" not in self.told and echoes_question(final, self.question):
            reading = self._echo_reading(final, citations)
            yield ("echo", "reread") if reading else ("echo",), prompts.echo(self.question, quotes, turn, limit,
                                                                             reading)
        if citations and not quotes:
            yield ("unverified",), prompts.unverified(self.question, citations, turn, limit)
        items, missing_items = asked_items(final, self.question)
        if missing_items:
            yield ("items",), prompts.items(final, items, missing_items, turn, limit)
        missing = numbers_not_in(final, quotes + self._shown(citations)[1])
        if missing:
            yield ("numbers",), prompts.numbers(final, missing, quotes, turn, limit)
        kind = wrong_kind(final, quotes, self.question)
        if kind:
            yield ("kind",), prompts.kind(final, *kind, quotes, turn, limit)
        if words_not_in(final, quotes, self.question):
            yield ("words",), prompts.absent(final, quotes, turn, limit)

    def _echo_reading(self, final: str, citations: list) -> str | None:
        """For an answer that repeats the question: what a second reading of its verified evidence answers,
        when it names something the answer does not (None: no reading, or one that says nothing)."""
        from ..evidence import reread

        source = self._reread_source(final, citations)
        if source is None or source[0] != "evidence":
            return None
        self.reading = reread.reading_of(self._second_reading(reread.prompt(self.question, source[1])))
        return self.reading if self.reading and not reread.agrees(final, self.reading, self.question) else None

    def _reread(self, final: str, citations: list, turn: int, limit: int) -> bool:
        """A second look at what the answer was read from (evidence/reread.py): the text around the verified
        evidence, or, for a computed answer that is a word, the REPL output it came from. A long answer
        most of whose words that text lacks, or one a second reading (by the sub model) contradicts, is
        sent back once (True); kept, it is labelled disputed (self.disputed: why)."""
        from ..evidence import reread

        self.disputed = self.model_answer = None
        self.confirmed = False
        source = self._reread_source(final, citations)
        if source is None:
            return False
        kind, text = source
        if kind == "items":
            return self._items_reading(final, text, turn, limit)
        where = " ".join(f"{c.source} {c.location}" for c in citations if c.verified)  # a place is an answer too
        if kind == "evidence" and reread.ungrounded(final, self.question, f"{text}\n{where}"):
            return self._dispute("grounded", "most of the answer's words are not in the text around its evidence",
                                 prompts.ungrounded(final, turn, limit), turn, limit)
        if not (self.reading and reread.agrees(final, self.reading, self.question)):  # else: no second call
            ask = reread.prompt(self.question, text) if kind == "evidence" else reread.work_prompt(self.question, text)
            reply = self._second_reading(ask)
            self.reading = reread.reading_of(reply)
            if self.reading is None:
                if kind != "evidence" or not reread.finds_nothing(reply):
                    return False
                return self._dispute("nothing", "a second reading of the evidence finds no answer to the question in "
                                     "it", prompts.nothing(final, turn, limit), turn, limit)
        if reread.agrees(final, self.reading, self.question):
            self.confirmed = kind == "evidence" and reread.confirms(self.reading, text, self.question)
            return False
        if self._dispute("reread", f'a second reading of the evidence answers "{self.reading}"',
                         prompts.reread(final, self.reading, turn, limit), turn, limit):
            return True
        if kind == "evidence" and reread.grounded(self.reading, text):
            self.model_answer = final  # kept against a reading copied from its own evidence: the reading answers
        return False

    def _items_reading(self, final: str, outputs: list[str], turn: int, limit: int) -> bool:
        """For an answer that leaves out items the question lists (after being told so): a reading of what
        the REPL printed, copied from it, that answers for more of them (the best such reading so far) is
        told once; kept against it, the reading answers."""
        from ..evidence import reread

        def left(text: str) -> int:
            return len(asked_items(text, self.question)[1])

        items, missing = asked_items(final, self.question)
        reply = self._second_reading(reread.work_prompt(self.question, outputs, items=True))
        reading = reread.reading_of(reply, lines=len(items))
        best = left(self.items_read) if self.items_read else len(missing)
        if reading and reread.grounded(reading, reread.printed(outputs)) and left(reading) < best:
            self.items_read = reading
        if self.items_read is None or left(self.items_read) >= len(missing):
            return False
        self.reading = self.items_read
        if self._dispute("reread", f'a second reading of the output answers "{" ".join(self.reading.split())}"',
                         prompts.reread(final, self.reading, turn, limit), turn, limit):
            return True
        self.model_answer = final
        return False

    def _second_reading(self, ask: str) -> str:
        """The sub model's reply to a second-reading prompt (asked again for each FINAL it reads, so the tree
        shows each reading under its FINAL)."""
        return self.run_.complete(self.cfg.sub, [{"role": "user", "content": redact_known(ask)}], self.emit,
                                  role="check")

    def _dispute(self, check: str, why: str, message: str, turn: int, limit: int) -> bool:
        if turn <= limit and self._tell((check,), message):
            return True
        self.disputed = why
        return False

    def _reread_source(self, final: str, citations: list):
        """("evidence", the text around the verified citations), ("work", the last REPL outputs) or ("items",
        the same, for an answer that leaves out items the question lists), or None
        when there is nothing to re-read (--no-reread, a child, no verified evidence, a forced answer unless it
        only repeats the question: its evidence may still answer it)."""
        from ..evidence import reread

        if not self.cfg.reread or self.depth or (self.forced and not echoes_question(final, self.question)):
            return None
        if self.printed and asked_items(final, self.question)[1]:
            return "items", self.printed  # the answer leaves out listed items: what the lookups printed
        if reread.applies(self.question):
            verified = any(c.verified for c in citations)
            return ("evidence", reread.passage(self.text, citations)) if verified else None
        return ("work", self.printed) if self.printed and reread.computed_word(self.question, final) else None

    def _evidence_required(self) -> bool:
        return self.depth == 0 and self.cfg.evidence == "required"

    def _answered(self, final: str) -> str:
        self.emit(ev.NODE_END, status="ok", answer=final, iterations=self.iterations,
                  citations=[c.as_event() for c in self.citations], forced=self.forced)
        return final

    def _ask_last_chance(self) -> None:
        if self.messages[-1]["role"] == "user":  # one user message per turn (some providers insist)
            self.messages[-1] = {"role": "user", "content": self.messages[-1]["content"] + "\n\n" + prompts.LAST_CHANCE}
        else:
            self.messages.append({"role": "user", "content": prompts.LAST_CHANCE})

    def turn(self, iteration: int, last: bool = False) -> str | None:
        """One model reply and the execution of its code blocks. Returns the answer if FINAL ran."""
        limit = self.cfg.limits.max_iterations
        fit_history(self.messages, self.cfg.root_window_tokens, self._count)
        reply = self.run_.complete(self.cfg.root_model, self.messages, self.emit, role="root")
        self.messages.append({"role": "assistant", "content": reply})
        blocks = code_blocks(reply)
        if not blocks:
            if not last:
                self.messages.append({"role": "user", "content": prompts.NO_CODE.format(turn=iteration + 1,
                                                                                        max_iterations=limit)})
            return None
        outputs = []
        for i, code in enumerate(blocks, 1):
            self.emit(ev.CODE_START, iteration=iteration, block=i, code=code)
            res = self.sandbox.execute(code, self.serve)
            shown = res.render()
            if shown.strip():
                self.printed = [*self.printed[-2:], shown]
            repeated = None if res.has_final else self.repeats.note(code, shown, iteration)
            if repeated:
                shown += "\n" + repeated
            self.emit(ev.CODE_END, iteration=iteration, block=i, output=shown, error=res.error,
                      duration_s=round(res.duration_s, 4), timed_out=res.timed_out, restarted=res.restarted,
                      has_final=res.has_final)
            for warning in res.warnings:
                self.run_.warnings.append(warning)
                self.emit(ev.WARNING, message=warning)
            if res.has_final:
                self.claims = list(res.evidence)
                return res.final if res.final is not None else ""
            self.run_.budget.check()  # a fatal sub-call refusal ends the run here
            outputs.append((i, shown))
            if res.restarted:
                break  # later blocks would run against a fresh REPL without the earlier state
        if not last:
            self.messages.append({"role": "user", "content": prompts.outputs_message(
                outputs, iteration + 1, limit, self.run_.budget_text(), self.question)})
        return None

    # ---- sub-calls from the REPL --------------------------------------------------------------------
    def serve(self, fn: str, args: dict) -> list[str]:
        """The sandbox's call handler: llm_query / rlm_query (single or batched), run in parallel."""
        from .fanout import fan_out

        run = self.run_
        call_id = run.next_call_id()
        batched = bool(args.get("batched"))
        if fn == "llm_query":
            items = [(p,) for p in args["prompts"]]
            one = lambda p: self.llm_query(p, args.get("model"), call_id)  # noqa: E731
        else:
            items = list(zip(args["questions"], args["contexts"]))
            one = lambda q, c: self.rlm_query(q, c, call_id)  # noqa: E731
        self.emit(ev.SUBCALL_START, call_id=call_id, fn=fn, batched=batched, n=len(items),
                  previews=[str(it[0])[:200] for it in items[:8]])
        run.usage.count_sub_calls(len(items))
        t0 = time.monotonic()
        progress = lambda done: self.emit(ev.SUBCALL_PROGRESS, call_id=call_id, done=done, total=len(items))  # noqa: E731
        results = fan_out(one, items, self.cfg.concurrency, progress, run.cancel, single=not batched)
        failed = sum(1 for r in results if r.startswith("Error:"))
        self.emit(ev.SUBCALL_END, call_id=call_id, fn=fn, n=len(items), failed=failed,
                  duration_s=round(time.monotonic() - t0, 4), previews=[r[:200] for r in results[:8]])
        return results

    def llm_query(self, prompt: str, model: str | None, subcall: int | None = None) -> str:
        from ..errors import ContextOverflow
        from ..sandbox.trust import allowed_model, check_prompt

        model = allowed_model(model, self.cfg.sub, (self.cfg.root_model, *self.cfg.sub_models))
        check_prompt(prompt, self.cfg.sandbox.max_prompt_chars)
        window = self.cfg.sub_window_tokens
        if window is not None:
            n = self._count(prompt)
            if n > window:
                raise ContextOverflow(f"prompt of {n:,} tokens is larger than the sub model's window "
                                      f"({window:,} tokens): split it into smaller chunks")
        return self.run_.complete(model, [{"role": "user", "content": prompt}], self.emit,
                                  role="sub", subcall=subcall)

    def rlm_query(self, question: str, sub_context: str, subcall: int | None = None) -> str:
        if self.depth + 1 > self.cfg.limits.max_depth:
            prompt = f"{question}\n\n{sub_context}" if sub_context else question
            return self.llm_query(prompt, None, subcall)
        from ..evidence import adopt

        sources = [{"name": f"<sub-context of {self.id}>", "kind": "text", "start": 0, "end": len(sub_context),
                    "pages": []}]
        child = Node(self.run_, question, sub_context, sources, self.depth + 1, self.run_.child_id(self.id))
        answer = child.run()
        if child.citations:  # (list.extend is atomic: batched children finish in parallel threads)
            self.child_citations.extend(adopt(child.citations, sub_context, self.text, self.sources, child.id))
        return answer

    # ---- token counts -------------------------------------------------------------------------------
    def _context_tokens(self) -> int:
        """The context's size for the prompt: exact if the tokenizer is loaded, else estimated now and
        the tokenizer loaded in the background (so the first request does not wait for it)."""
        counter = self.cfg.tokens
        if not counter.ready():
            counter.prefetch()
            return max(1, len(self.text) // 4)
        return self._count(self.text)

    def _count(self, text: str) -> int:
        from ..tokens import count_large

        counter = self.cfg.tokens
        return count_large(counter, text) if counter.ready() else max(1, len(text) // 4)


def _subprocess_sandbox(text: str, sources: list, options):
    from ..sandbox import SubprocessSandbox

    return SubprocessSandbox(text, sources, options)
