"""The Rich view of a TreeState: labels, iterations, sub-calls, the footer and the answer panel.

`Builder(state).build()` runs under the state's lock (TreeState.__rich__), bounded by the collapse
options, so a live display can refresh from its own thread while the run keeps emitting events.
Every text shown comes from events (models, documents, file names, or a trajectory file from anywhere):
it goes through the sanitiser (`short`, `label`, `code`, the answer panel) and into Rich Text objects,
never into markup strings.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .sanitize import clean, one_line

if TYPE_CHECKING:
    from .tree import Block, Iteration, Node, SubCall, TreeState

ICONS = {"ok": "✓", "error": "✗", "timeout": "⏱", "limit": "■", "no_answer": "■", "interrupted": "⊘", "running": "…",
         "unsupported": "?"}
STYLES = {"ok": "green", "error": "red", "timeout": "yellow", "limit": "yellow", "no_answer": "yellow",
          "interrupted": "yellow", "running": "cyan", "unsupported": "yellow"}


def short(text, n: int = 60) -> str:
    text = " ".join(one_line(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def fmt_duration(s: float | None) -> str:
    if s is None:
        return ""
    if s < 60:
        return f"{s:.2f} s" if s < 10 else f"{s:.1f} s"
    m, sec = divmod(int(s), 60)
    return f"{m}m {sec:02d}s" if m < 60 else f"{m // 60}h {m % 60:02d}m"


def fmt_tokens(n: int) -> str:
    return f"{n:,} tok"


class Builder:
    """Turns a TreeState into Rich renderables (called under the state's lock)."""

    def __init__(self, state: TreeState):
        self.s = state
        self.o = state.options
        self.now = state.now()
        if not hasattr(state, "_spinners"):
            state._spinners = {}

    # labels ----------------------------------------------------------------------------------
    def label(self, key, status: str, parts: list, extra: list | None = None):
        from rich.text import Text

        text = Text(no_wrap=True, overflow="ellipsis")
        for i, part in enumerate(parts):
            if i:
                text.append(" ")
            if isinstance(part, tuple):
                text.append(one_line(part[0]), *part[1:])
            else:
                text.append(one_line(part) if isinstance(part, str) else part)
        meta = [one_line(m) for m in (extra or []) if m]
        if meta:
            text.append("  " + " · ".join(meta), style="dim")
        if status == "running" and self.o.spinner and not self.s.finished:
            from rich.spinner import Spinner

            spinner = self.s._spinners.get(key)
            if spinner is None:
                spinner = self.s._spinners[key] = Spinner("dots", style="cyan")
            spinner.text = text
            return spinner
        head = Text(ICONS.get(status, "?") + " ", style=STYLES.get(status, ""))
        head.no_wrap, head.overflow = True, "ellipsis"
        return head + text

    def dur(self, t0: float, t1: float | None = None, d: float | None = None) -> str:
        if not self.o.show_timings:
            return ""
        if d is not None:
            return fmt_duration(float(d))
        return fmt_duration((t1 if t1 is not None else self.now) - t0)

    def cost(self, c: float) -> str:
        return f"${c:.4f}"

    # tree ------------------------------------------------------------------------------------
    def build(self):
        from rich.console import Group
        from rich.text import Text
        from rich.tree import Tree

        s = self.s
        if s.root is None:
            q = s.run.get("question", "")
            body = Text(f"… starting: {short(q, 80)}" if q else "… starting", style="cyan")
            parts = [body, self.footer()]
        else:
            tree = Tree(self.node_label(s.root), guide_style="dim")
            self.node_body(tree, s.root)
            parts = [tree]
            parts += [Text(f"⚠ {short(w, 200)}", style="yellow") for w in s.warnings[-3:]]
            parts.append(self.footer())
        panel = self.answer_panel()
        if panel is not None:
            parts.append(panel)
        group = Group(*parts)
        if self.o.live:
            return _Bounded(group, self.o.max_height)
        return group

    def node_label(self, node: Node):
        q = short(node.question, 70 if node.depth == 0 else 60)
        extra = [node.model, f"{len(node.iterations)} iter", _plural(node.calls, "call"), fmt_tokens(node.tokens),
                 self.cost(node.cost_usd), self.dur(node.t0, node.t1), f"{node.context_chars:,} chars"]
        parts = [(node.id, "bold"), (q, "bold" if node.depth == 0 else "")]
        if node.status not in ("running", "ok"):
            parts.append((f"[{node.status}]", STYLES.get(node.status, "")))
        return self.label(("node", node.id), node.status, parts, extra)

    def node_body(self, tree, node: Node) -> None:
        its = node.iterations
        keep = self.o.keep_iterations
        if keep is not None and len(its) > keep:
            old, its = its[: len(its) - keep], its[len(its) - keep:]
            self.collapsed_iterations(tree, old)
        for it in its:
            self.iteration(tree.add(self.iteration_label(node, it)), it)
        if node.depth and node.answer is not None:
            tree.add(self.text(f"→ {short(node.answer, 90)}", "green"))
        if node.error and node.status not in ("ok", "interrupted"):
            tree.add(self.text(f"✗ {short(node.error, 120)}", "red"))

    def collapsed_iterations(self, tree, old: list) -> None:
        calls = sum(1 for it in old if it.call) + sum(len(b.subcalls) for it in old for b in it.blocks)
        first, last = old[0].n, old[-1].n
        span = f"iteration {first}" if first == last else f"iterations {first}–{last}"
        tree.add(self.text(f"▸ {span} collapsed ({calls} calls)", "dim"))

    def iteration_label(self, node: Node, it: Iteration):
        call = it.call
        status = "running" if it.t1 is None and node.status == "running" else self.iteration_status(it)
        name = "last chance" if it.last_chance else (f"iteration {it.n}/{it.max_n}" if it.max_n else f"iteration {it.n}")
        extra = []
        if call is not None:
            extra = [call.model, self.call_tokens(call), self.cost(call.cost_usd)]
            if call.cached:
                extra = [call.model, "cached answer"]
            if call.status in ("running", "interrupted"):
                extra = [call.model, "thinking" if call.status == "running" else "stopped while thinking"]
        extra.append(self.dur(it.t0, it.t1))
        return self.label(("it", node.id, it.n), status, [(name, "bold")], extra)

    @staticmethod
    def call_tokens(call) -> str:
        text = f"{call.prompt_tokens:,}+{call.completion_tokens:,} tok"
        return text + (f" ({call.cached_tokens:,} cached)" if call.cached_tokens else "")

    @staticmethod
    def iteration_status(it: Iteration) -> str:
        if it.call is not None and it.call.status in ("error", "interrupted"):
            return it.call.status
        for b in it.blocks:
            if b.status in ("timeout", "error", "interrupted"):
                return b.status
        return "ok"

    def iteration(self, tree, it: Iteration) -> None:
        call = it.call
        if call is not None and call.status == "error":
            tree.add(self.text(f"✗ model error: {short(call.error, 120)}", "red"))
        elif call is not None and call.status == "ok" and not it.blocks:
            tree.add(self.text(f"(no code in the reply: {short(call.text, 80)})", "yellow"))
        for sub in it.loose:
            if not hasattr(sub, "fn"):  # a loose model call (shown in the totals), not a sub-call
                continue
            self.subcall(tree, sub)
        for b in it.blocks:
            self.block(tree, b)
        for call in it.loose:  # the second reading of the evidence FINAL gave (after the FINAL)
            if getattr(call, "role", "") == "check" and call.status == "ok":
                tree.add(self.text(f"↻ second reading of the evidence: {short(call.text, 80)}", "dim"))

    def block(self, tree, b: Block) -> None:
        tree.add(self.code(b.code))
        for sub in b.subcalls:
            self.subcall(tree, sub)
        if b.status == "running":
            return
        tree.add(self.output(b))

    def code(self, code: str):
        from rich.syntax import Syntax

        lines = clean(code).strip("\n").splitlines() or [""]
        n = self.o.code_lines
        shown = "\n".join(lines[:n])
        syntax = Syntax(shown, "python", theme="ansi_dark", background_color="default", word_wrap=False)
        if len(lines) <= n:
            return syntax
        from rich.console import Group

        return Group(syntax, self.text(f"… {len(lines) - n} more lines", "dim"))

    def output(self, b: Block):
        from rich.text import Text

        if b.timed_out:
            note = " (REPL restarted: variables lost)" if b.restarted else ""
            return Text(f"⏱ timed out{note}", style="yellow")
        out = b.output.strip("\n")
        lines = [ln for ln in out.splitlines() if ln.strip()] or ["(no output)"]
        n = self.o.output_lines
        style = "red" if b.error else "dim"
        text = Text("→ ", style="red" if b.error else "green")
        text.append("\n  ".join(short(ln, 110) for ln in lines[:n]), style=style)
        meta = []
        if len(lines) > n:
            meta.append(f"+{len(lines) - n} lines")
        if b.has_final:
            meta.append("FINAL")
        meta.append(self.dur(0, d=b.duration_s) if b.duration_s is not None else "")
        meta = [m for m in meta if m]
        if meta:
            text.append("  " + " · ".join(meta), style="dim")
        return text

    def subcall(self, tree, sub: SubCall) -> None:
        if sub.fn == "rlm_query" and sub.children:
            self.rlm_subcall(tree, sub)
        elif sub.batched or sub.n > 1:
            self.batch(tree, sub)
        else:
            self.single(tree, sub)

    def calls_meta(self, calls: list) -> list:
        pt = sum(c.prompt_tokens for c in calls)
        ct = sum(c.completion_tokens for c in calls)
        models = sorted({c.model for c in calls})
        hits = sum(1 for c in calls if c.cached)
        meta = [", ".join(models), f"{pt:,}+{ct:,} tok", self.cost(sum(c.cost_usd for c in calls))] if calls else []
        return meta + ([f"{hits} cached"] if hits else [])

    def single(self, tree, sub: SubCall) -> None:
        prompt = short(sub.previews[0] if sub.previews else "", 50)
        parts = [(sub.fn, "bold"), (f"“{prompt}”", "")]
        if sub.status != "running":
            result = sub.results[0] if sub.results else ""
            parts.append(("→", "dim"))
            parts.append((f"“{short(result, 50)}”", "red" if str(result).startswith("Error:") else "green"))
        status = "error" if sub.failed else sub.status
        tree.add(self.label(("sub", sub.call_id), status, parts,
                            self.calls_meta(sub.calls) + [self.dur(sub.t0, d=sub.duration_s)]))

    def bar(self, done: int, total: int, width: int = 10):
        from rich.text import Text

        k = 0 if total <= 0 else min(width, round(width * done / total))
        return Text("█" * k, style="green") + Text("░" * (width - k), style="dim")

    def batch(self, tree, sub: SubCall) -> None:
        from rich.text import Text

        name = one_line(f"{sub.fn}_batched" if sub.batched else sub.fn)
        label_text = Text()
        label_text.append(f"{name} ×{sub.n} ", style="bold")
        done = max(sub.done, sum(1 for c in sub.calls if c.status != "running"))
        label_text.append_text(self.bar(done, sub.n))
        label_text.append(f" {done}/{sub.n}")
        if sub.failed:
            label_text.append(f" ({sub.failed} failed)", style="red")
        status = sub.status if sub.status != "ok" or not sub.failed else "error" if sub.failed == sub.n else "ok"
        branch = tree.add(self.label(("sub", sub.call_id), status, [label_text],
                                     self.calls_meta(sub.calls) + [self.dur(sub.t0, d=sub.duration_s)]))
        if sub.status == "running":
            return
        k = self.o.batch_items
        for i, prompt in enumerate(sub.previews[:k]):
            result = str(sub.results[i]) if i < len(sub.results) else ""
            bad = result.startswith("Error:")
            line = Text(("✗ " if bad else "✓ "), style="red" if bad else "green")
            line.append(f"“{short(prompt, 40)}”")
            line.append(" → ", style="dim")
            line.append(f"“{short(result, 40)}”", style="red" if bad else "")
            branch.add(line)
        if sub.n > k:
            rest_failed = sum(1 for r in sub.results[k:] if str(r).startswith("Error:"))
            branch.add(self.text(f"… {sub.n - k} more ({sub.failed} failed in all)" if sub.failed or rest_failed
                                 else f"… {sub.n - k} more", "dim"))

    def rlm_subcall(self, tree, sub: SubCall) -> None:
        from rich.text import Text

        name = "rlm_query_batched" if sub.batched else "rlm_query"
        label_text = Text(f"{name} ×{sub.n} " if sub.batched else f"{name} ", style="bold")
        if sub.batched:
            done = sum(1 for c in sub.children if c.status != "running")
            label_text.append_text(self.bar(done, sub.n))
            label_text.append(f" {done}/{sub.n}")
        else:
            label_text.append(f"“{short(sub.previews[0] if sub.previews else '', 50)}”")
        status = "error" if sub.failed and sub.status != "running" else sub.status
        branch = tree.add(self.label(("sub", sub.call_id), status, [label_text],
                                     [self.dur(sub.t0, d=sub.duration_s)]))
        children = list(sub.children)
        k = self.o.batch_items
        if len(children) > k:
            running = [c for c in children if c.status == "running"]
            others = [c for c in children if c.status != "running"]
            shown = (running + others)[:max(k, min(len(running), 2 * k))] if self.o.live else children[:k]
            hidden = [c for c in children if c not in shown]
        else:
            shown, hidden = children, []
        for child in sorted(shown, key=lambda c: _node_key(c.id)):
            self.child(branch, child)
        if hidden:
            bad = sum(1 for c in hidden if c.status not in ("ok", "running"))
            branch.add(self.text(f"… {len(hidden)} more child RLMs" + (f" ({bad} not ok)" if bad else ""), "dim"))

    def child(self, tree, node: Node) -> None:
        if self.o.live and node.status == "ok":  # a finished child collapses to one line
            label = self.node_label(node)
            sub = tree.add(label)
            if node.answer is not None:
                sub.add(self.text(f"→ {short(node.answer, 90)}", "green"))
            return
        self.node_body(tree.add(self.node_label(node)), node)

    def text(self, s: str, style: str = ""):
        from rich.text import Text

        return Text(s, style=style)

    # footer and answer -----------------------------------------------------------------------
    def footer(self):
        from rich.text import Text

        s = self.s
        elapsed = s.duration_s if s.duration_s is not None else self.now
        parts = [_plural(s.calls_total, "call"), fmt_tokens(s.tokens_total), self.cost(s.cost_total)]
        if s.cache_hits:
            parts.insert(1, f"{s.cache_hits} cached")
        if self.o.show_timings:
            parts.append(fmt_duration(elapsed))
        left = self.budget_left(elapsed)
        if left:
            parts.append("left: " + ", ".join(left))
        status = s.status
        text = Text(f"{ICONS.get(status, '?')} {short(status, 40)}  ",
                    style=STYLES.get(status, "") + " bold")
        text.append(" · ".join(parts), style="dim" if status == "running" else "")
        return text

    def budget_left(self, elapsed: float) -> list[str]:
        s, lim = self.s, self.s.run.get("limits") or {}
        left = []
        if lim.get("max_calls") is not None:
            left.append(f"{max(int(lim['max_calls']) - s.calls_total, 0)} calls")
        if lim.get("max_tokens") is not None:
            left.append(f"{max(int(lim['max_tokens']) - s.tokens_total, 0):,} tok")
        if lim.get("max_cost") is not None:
            left.append(f"${max(float(lim['max_cost']) - s.cost_total, 0.0):.4f}")
        if lim.get("timeout") is not None and self.o.show_timings:
            left.append(fmt_duration(max(float(lim["timeout"]) - elapsed, 0.0)))
        return left

    def answer_panel(self):
        from rich.panel import Panel

        s = self.s
        if not s.finished:
            return None
        if s.status in ("ok", "unsupported") and s.answer is not None:
            return self.answered_panel()
        title = {"interrupted": "Interrupted", "limit": "No answer: limit reached"}.get(s.status, "Failed")
        body = clean(s.error or s.status)
        if s.status == "interrupted":
            body = "Stopped by Ctrl-C before an answer."
        if s.run.get("run_id"):
            body += f"\nSaved run: rlm logs show {one_line(s.run['run_id'])}"
        return Panel(self.text(body), title=title, title_align="left",
                     border_style=STYLES.get(s.status, "red"))


    def answered_panel(self):
        """The answer, the evidence under it, and a yellow title when it is a guess or unsupported."""
        from rich.console import Group
        from rich.markdown import Markdown
        from rich.panel import Panel
        from rich.text import Text

        from .evidence_view import caution, evidence_text

        s = self.s
        # hyperlinks=False: a link shows its URL ("text (url)"), never a hidden OSC 8 target
        body = [Markdown(clean(s.answer), hyperlinks=False)]
        if s.citations:
            body += [Text(""), evidence_text(s.citations)]
        warn = caution(s.labels)
        title = f"Answer · {warn}" if warn else "Answer"
        return Panel(Group(*body), title=title, title_align="left", border_style="yellow" if warn else "green")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _node_key(node_id: str) -> list:
    return [int(p) if p.isdigit() else 0 for p in node_id.split(".")[1:]]


class _Bounded:
    """Keeps a live frame within the terminal: the first line, a marker, then the newest lines."""

    def __init__(self, renderable, max_height: int | None):
        self.renderable = renderable
        self.max_height = max_height

    def __rich_console__(self, console, options):
        from rich.segment import Segment

        height = self.max_height or (options.height or console.height) - 1
        lines = console.render_lines(self.renderable, options.update(height=None), pad=False, new_lines=False)
        if len(lines) > height > 3:
            hidden = len(lines) - 1 - (height - 2)
            marker = [Segment(f"  … {hidden} lines above", console.get_style("dim"))]
            lines = [lines[0], marker] + lines[len(lines) - (height - 2):]
        for line in lines:
            yield from line
            yield Segment.line()
