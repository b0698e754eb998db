"""`rlm logs show --html`: one self-contained HTML page (inline CSS and JS, no network) of a saved run.

Built from the same TreeState as the terminal tree; nodes are <details> elements, code is highlighted
with Pygments (inline styles), the answer is Markdown rendered by markdown-it (raw HTML disabled).
"""
from __future__ import annotations

from html import escape

from .tree import Block, Iteration, Node, SubCall, TreeState, fmt_duration, short

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#f6f7f9;padding:14px 22px}header h1{font-size:18px;margin:0 0 6px}
.meta{color:#b9c0cc;font-size:13px}main{padding:14px 22px}
details{margin:4px 0 4px 14px;border-left:2px solid #d5d9e0;padding-left:10px}
summary{cursor:pointer;padding:2px 0}summary .m{color:#6b7280;font-size:12px;margin-left:8px}
.ok>summary .s{color:#15803d}.error>summary .s,.timeout>summary .s{color:#b91c1c}
.limit>summary .s,.interrupted>summary .s,.no_answer>summary .s{color:#b45309}
pre{background:#fff;border:1px solid #e2e5ea;border-radius:4px;padding:6px 8px;overflow:auto;margin:4px 0;
white-space:pre-wrap;word-break:break-word;font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre.out{background:#f3f4f6}pre.err{background:#fef2f2;border-color:#fecaca}
.node>summary{font-weight:600}ol.items{margin:4px 0;padding-left:28px;font-size:13px}
ol.items .bad{color:#b91c1c}.answer{background:#fff;border:2px solid #15803d;border-radius:6px;padding:4px 16px;margin:16px 0}
.answer.bad{border-color:#b45309}.controls{margin:8px 0}.controls button{margin-right:6px}
.hidden{display:none}footer{padding:8px 22px 20px;color:#4b5563}.warn{color:#b45309}
ol.evidence{padding-left:24px}ol.evidence li{margin:6px 0}ol.evidence .where{font-weight:600}
ol.evidence blockquote{margin:4px 0;padding:4px 10px;border-left:3px solid #15803d;background:#f9fafb;color:#4b5563}
ol.evidence mark{background:#fde68a;color:#1d2330;padding:0 1px}ol.evidence li.bad{color:#b91c1c}
"""

JS = """
(function(){
  var all=function(){return Array.prototype.slice.call(document.querySelectorAll('details'));};
  document.getElementById('expand').onclick=function(){all().forEach(function(d){d.open=true;});};
  document.getElementById('collapse').onclick=function(){all().forEach(function(d){d.open=false;});};
  document.getElementById('filter').oninput=function(e){
    var q=e.target.value.toLowerCase();
    all().forEach(function(d){d.classList.toggle('hidden',q!==''&&d.textContent.toLowerCase().indexOf(q)<0);});
  };
  var n=document.querySelectorAll('details.node').length, it=document.querySelectorAll('details.iteration').length;
  document.getElementById('stats').textContent=n+' RLM nodes, '+it+' iterations';
  document.body.setAttribute('data-ready','1');
})();
"""

ICON = {"ok": "✓", "error": "✗", "timeout": "⏱", "limit": "■", "no_answer": "■", "interrupted": "⊘", "running": "…"}


def _e(text) -> str:
    return escape(str(text if text is not None else ""))


def _cls(status) -> str:
    """A status as a CSS class: one of the known ones (a trajectory file is data from anywhere)."""
    return status if status in ICON else "unknown"


def _code(code: str) -> str:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        return highlight(code, PythonLexer(), HtmlFormatter(noclasses=True, nowrap=True, style="friendly"))
    except ImportError:  # pygments comes with rich; plain text otherwise
        return _e(code)


def _markdown(text: str) -> str:
    try:
        from markdown_it import MarkdownIt

        return MarkdownIt("commonmark", {"html": False}).render(text)
    except ImportError:
        return f"<pre>{_e(text)}</pre>"


def _summary(status: str, title: str, meta: list[str]) -> str:
    m = " · ".join(_e(x) for x in meta if x)
    return (f'<summary><span class="s">{ICON.get(status, "?") if isinstance(status, str) else "?"}</span> {title}'
            f'{f"<span class=m>{m}</span>" if m else ""}</summary>')


class _Html:
    def __init__(self, state: TreeState):
        self.s = state
        self.out: list[str] = []

    def w(self, *parts: str) -> None:
        self.out.extend(parts)

    def node(self, node: Node) -> None:
        dur = fmt_duration((node.t1 if node.t1 is not None else self.s.last_t) - node.t0)
        meta = [f"{node.context_chars:,} chars", node.model, f"{len(node.iterations)} iterations", f"{node.calls} calls",
                f"{node.tokens:,} tokens", f"${node.cost_usd:.4f}", dur]
        self.w(f'<details class="node {_cls(node.status)}" open data-node="{_e(node.id)}">',
               _summary(node.status, f"{_e(node.id)} {_e(node.question)}", meta))
        for it in node.iterations:
            self.iteration(node, it)
        if node.answer is not None and node.depth:
            self.w(f'<pre class="out">→ {_e(node.answer)}</pre>')
        if node.error and node.status != "ok":
            self.w(f'<pre class="err">{_e(node.error)}</pre>')
        self.w("</details>")

    def iteration(self, node: Node, it: Iteration) -> None:
        call = it.call
        status = "ok"
        if call is not None and call.status == "error":
            status = "error"
        for b in it.blocks:
            if b.status != "ok":
                status = b.status
        name = "last chance" if it.last_chance else f"iteration {it.n}/{it.max_n}" if it.max_n else f"iteration {it.n}"
        meta = []
        if call is not None:
            meta = [call.model, f"{call.prompt_tokens:,}+{call.completion_tokens:,} tokens", f"${call.cost_usd:.4f}",
                    f"model {fmt_duration(call.duration_s)}" if call.duration_s is not None else ""]
        meta.append(fmt_duration((it.t1 if it.t1 is not None else self.s.last_t) - it.t0))
        self.w(f'<details class="iteration {_cls(status)}" open>', _summary(status, name, meta))
        if call is not None and call.text:
            self.w('<details class="reply"><summary>model reply</summary>', f"<pre>{_e(call.text)}</pre></details>")
        if call is not None and call.status == "error":
            self.w(f'<pre class="err">model error: {_e(call.error)}</pre>')
        for sub in it.loose:
            if isinstance(sub, SubCall):
                self.subcall(sub)
        for b in it.blocks:
            self.block(b)
        self.w("</details>")

    def block(self, b: Block) -> None:
        self.w(f'<pre class="code">{_code(b.code)}</pre>')
        for sub in b.subcalls:
            self.subcall(sub)
        if b.timed_out:
            self.w(f'<pre class="err">timed out{" (REPL restarted: variables lost)" if b.restarted else ""}</pre>')
        elif b.status != "running":
            cls = "err" if b.error else "out"
            extra = [fmt_duration(b.duration_s) if b.duration_s is not None else "", "FINAL" if b.has_final else ""]
            note = " · ".join(x for x in extra if x)
            self.w(f'<pre class="{cls}" title="{_e(note)}">{_e(b.output or "(no output)")}</pre>')

    def subcall(self, sub: SubCall) -> None:
        name = f"{sub.fn}_batched" if sub.batched else sub.fn
        pt = sum(c.prompt_tokens for c in sub.calls)
        ct = sum(c.completion_tokens for c in sub.calls)
        meta = [f"{sub.done}/{sub.n} done", f"{sub.failed} failed" if sub.failed else "",
                f"{pt:,}+{ct:,} tokens" if sub.calls else "", f"${sum(c.cost_usd for c in sub.calls):.4f}" if sub.calls else "",
                fmt_duration(sub.duration_s) if sub.duration_s is not None else ""]
        status = "error" if sub.failed else sub.status
        title = f"{_e(name)} ×{sub.n}" if sub.n > 1 or sub.batched else f"{_e(name)} “{_e(short(sub.previews[0] if sub.previews else '', 80))}”"
        self.w(f'<details class="subcall {_cls(status)}" open>', _summary(status, title, meta), '<ol class="items">')
        for i, prompt in enumerate(sub.previews):
            result = str(sub.results[i]) if i < len(sub.results) else ""
            bad = ' class="bad"' if result.startswith("Error:") else ""
            self.w(f"<li{bad}>{_e(short(prompt, 200))} → <b>{_e(short(result, 200))}</b></li>")
        self.w("</ol>")
        if sub.n > len(sub.previews):
            self.w(f"<div class=m>… {sub.n - len(sub.previews)} more items (previews keep the first {len(sub.previews)})</div>")
        for child in sub.children:
            self.node(child)
        self.w("</details>")


def _answer(s: TreeState) -> str:
    """The answer, then its evidence: each verified quote highlighted in the text around it."""
    from .evidence_view import caution, clean, place

    warn = caution(s.labels)
    head = f"Answer <span class=warn>· {_e(warn)}</span>" if warn else "Answer"
    items = []
    for c in s.citations:
        quote = _e(clean(c.get("quote")))
        if c.get("verified") is True:
            items.append(f'<li class="ok"><span class="where">{_e(place(c))}</span><blockquote>'
                         f'{_e(_keep_edge(c.get("before")))}<mark>{quote}</mark>{_e(_keep_edge(c.get("after")))}'
                         '</blockquote></li>')
        else:
            items.append(f'<li class="bad">not verified ({_e(clean(c.get("reason")))}): “{quote}”</li>')
    evidence = f'<h3>Evidence</h3><ol class="evidence">{"".join(items)}</ol>' if items else ""
    return (f'<section class="answer{" bad" if warn else ""}"><h2>{head}</h2>{_markdown(str(s.answer))}'
            f"{evidence}</section>")


def _keep_edge(text) -> str:
    """clean() of the text around a quote, keeping the one space that separates it from the quote."""
    from .evidence_view import clean

    text = str(text or "")
    return (" " if text[:1] == " " else "") + clean(text) + (" " if text[-1:] == " " and text.strip() else "")


def render_html(state: TreeState) -> str:
    s = state
    run = s.run
    with s.lock:
        body = _Html(s)
        if s.root is not None:
            body.node(s.root)
        tree = "".join(body.out)
    duration = fmt_duration(s.duration_s if s.duration_s is not None else s.last_t)
    meta = [f"run {run.get('run_id', '?')}", f"status {s.status}", f"root {run.get('root_model', '?')}",
            f"sub {run.get('sub_model', '?')}", f"{s.calls_total} calls", f"{s.tokens_total:,} tokens",
            f"${s.cost_total:.4f}", duration]
    if s.status in ("ok", "unsupported") and s.answer is not None:
        answer = _answer(s)
    else:
        answer = f'<section class="answer bad"><h2>No answer ({_e(s.status)})</h2><p>{_e(s.error)}</p></section>'
    warnings = "".join(f'<div class="warn">⚠ {_e(w)}</div>' for w in s.warnings)
    title = _e(short(run.get("question", "rlm run"), 80))
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
            f"<title>rlm: {title}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(run.get('question', ''))}</h1><div class=meta>{' · '.join(_e(m) for m in meta)}</div></header>"
            f'<main><div class="controls"><button id="expand">Expand all</button><button id="collapse">Collapse all</button>'
            f'<input id="filter" placeholder="filter nodes"> <span id="stats"></span></div>'
            f"{warnings}{tree}{answer}</main>"
            f"<footer>{len(run.get('sources') or [])} source(s), {int(run.get('context_chars') or 0):,} characters · "
            f"written by rlm logs show --html</footer><script>{JS}</script></body></html>\n")
