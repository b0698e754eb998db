"""`python -m bench.tasks`: run rlm and a direct baseline on the same generated items, side by side.

rlm runs as the real CLI (`rlm ask ... --json`, a subprocess per item). The direct baseline pastes
the whole context (exactly the text rlm ingests) into one call, cut to the model's window, and
says how much was cut. `--policy oracle` replaces the model with correct code (rlm side) and a
perfect reader of the truncated text (baseline side): a sanity check of generators and scoring.
`--results FILE` appends every finished item to a JSON-lines file and skips the items already in it
(resume after a crash); `--report FILE` prints the table (accuracy with a 95 % interval, evidence
score, tokens and seconds per item) from such a file.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..common import bench_env, print_grid, rlm_argv, write_results
from . import TASKS, generate, parse_length
from .base import CHARS_PER_TOKEN, Item
from .evidence import evidence_score
from .results import HEADERS, ResultsFile, load, markdown, summarize, table_rows
from .scoring import score

DEFAULT_WINDOW = 32_000  # tokens, when the model's window is unknown (oracle, stub servers)
ANSWER_RESERVE = 1_000  # tokens kept free for the question and the answer


@dataclass
class Outcome:
    system: str  # rlm | direct
    index: int
    answer: str | None
    score: float
    seconds: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    status: str = "ok"
    error: str | None = None
    kept_fraction: float = 1.0  # direct baseline: share of the context that fit the window
    evidence_score: float | None = None  # rlm: share of the gold records its verified citations cover
    supported: bool | None = None  # rlm: a verified citation
    forced: bool | None = None  # rlm: answered at the last-chance turn
    iterations: int | None = None
    trajectory: str | None = None  # rlm: the run's saved events


@dataclass
class Args:
    task: str
    length: int
    n: int
    seed: int = 0
    policy: str = "model"  # model | oracle
    model: str | None = None
    sub_model: str | None = None
    api_base: str | None = None
    profile: str | None = None
    window: int | None = None
    systems: list[str] = field(default_factory=lambda: ["rlm", "direct"])
    timeout: float = 1800.0
    extra: list[str] = field(default_factory=list)
    results: str | None = None  # JSON-lines file: append each item, skip those already there
    model_flag: str | None = field(default=None, init=False)  # -m as given (a.model becomes the resolved name)

    def __post_init__(self):
        self.model_flag = self.model

    @property
    def label(self) -> str:
        """The model column of the results: oracle, -m MODEL, or profile:NAME."""
        if self.policy == "oracle":
            return "oracle"
        return self.model_flag or f"profile:{self.profile}"


# ---- rlm -------------------------------------------------------------------------------------------
def run_rlm(item: Item, a: Args, tmp: Path, text: str) -> Outcome:
    from .oracle import scripted_model

    sources = item.write(tmp / f"item{item.index}")
    argv = [*rlm_argv(), "ask", *sources, item.question, "--json", "-q", "--no-cache"]
    if a.policy == "oracle":
        argv += ["-m", scripted_model(item, tmp / f"oracle{item.index}.json")]
    else:
        argv += _model_flags(a)
    argv += a.extra
    t0 = time.perf_counter()
    home = Path(a.results).with_suffix(".home") if a.results else tmp / "home"  # kept with a results file
    try:
        proc = subprocess.run(argv, env=bench_env(home), capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        return Outcome("rlm", item.index, None, 0.0, time.perf_counter() - t0, status="timeout")
    seconds = time.perf_counter() - t0
    try:
        obj = json.loads(proc.stdout)
    except ValueError:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome("rlm", item.index, None, 0.0, seconds, status=f"exit {proc.returncode}", error=err)
    usage = obj.get("usage") or {}
    return Outcome("rlm", item.index, obj.get("answer"), score(item, obj.get("answer")), seconds,
                   sum(u.get("prompt_tokens", 0) for u in usage.values()),
                   sum(u.get("completion_tokens", 0) for u in usage.values()),
                   float(obj.get("cost_usd") or 0.0), obj.get("status", "?"), obj.get("error"),
                   evidence_score=evidence_score(item, obj.get("citations"), text), supported=obj.get("supported"),
                   forced=obj.get("forced"), iterations=obj.get("iterations"), trajectory=obj.get("trajectory"))


def _model_flags(a: Args) -> list[str]:
    flags = []
    for flag, value in (("-m", a.model), ("--sub-model", a.sub_model), ("--api-base", a.api_base), ("-p", a.profile)):
        if value:
            flags += [flag, value]
    return flags


# ---- direct baseline ----------------------------------------------------------------------------------
PROMPT = "{context}\n\n---\nAnswer the question about the text above.\nQuestion: {question}\nAnswer:"


def context_text(sources: list[str]) -> str:
    """Exactly the text rlm's ingestion builds for these sources."""
    from rlm_cli.ingest import load_sources

    return load_sources(sources, use_cache=False).text


def truncate(text: str, window_tokens: int) -> tuple[str, float]:
    keep = max(0, (window_tokens - ANSWER_RESERVE) * CHARS_PER_TOKEN)
    if len(text) <= keep:
        return text, 1.0
    return text[:keep], keep / len(text)


def run_direct(item: Item, a: Args, text: str, backend, window: int) -> Outcome:
    from .oracle import solve

    text, kept = truncate(text, window)
    t0 = time.perf_counter()
    if a.policy == "oracle":
        answer = solve(item, text)
        return Outcome("direct", item.index, answer, score(item, answer), time.perf_counter() - t0,
                       len(text) // CHARS_PER_TOKEN, 0, 0.0, "ok" if answer else "not in window", None, kept)
    messages = [{"role": "user", "content": PROMPT.format(context=text, question=item.question)}]
    try:
        c = backend.complete(a.model, messages, timeout=a.timeout)
    except Exception as exc:  # a backend failure is a result, not a crash of the benchmark
        return Outcome("direct", item.index, None, 0.0, time.perf_counter() - t0, status="error",
                       error=f"{type(exc).__name__}: {exc}"[:300], kept_fraction=kept)
    return Outcome("direct", item.index, c.text, score(item, c.text), time.perf_counter() - t0, c.prompt_tokens,
                   c.completion_tokens, c.cost_usd, "ok", None, kept)


def _backend_and_window(a: Args):
    if a.policy == "oracle":
        return None, a.window or DEFAULT_WINDOW, "assumed" if not a.window else "given"
    from rlm_cli import config
    from rlm_cli.backends.router import context_window

    resolved = config.resolve(profile=a.profile, model=a.model, sub_model=a.sub_model, api_base=a.api_base)
    a.model = resolved.root_model
    if a.window:
        return resolved.backend, a.window, "given"
    try:
        known = context_window(resolved.backend.endpoint(a.model))
    except Exception:
        known = None
    return resolved.backend, known or DEFAULT_WINDOW, "model info" if known else "assumed"


# ---- report -------------------------------------------------------------------------------------------
def run(a: Args) -> dict:
    items = generate(a.task, a.length, a.n, a.seed)
    store = ResultsFile(a.results) if a.results else None
    outcomes: list[Outcome] = []
    backend, window, window_src = (None, None, None)
    if "direct" in a.systems:
        backend, window, window_src = _backend_and_window(a)
    with tempfile.TemporaryDirectory(prefix="rlm-bench-tasks-") as tmp:
        for item in items:
            text = None
            for system in a.systems:
                row = _row(a, item, system)
                if store is not None and store.has(row):
                    continue
                text = text if text is not None else context_text(item.write(Path(tmp) / f"item{item.index}"))
                o = run_rlm(item, a, Path(tmp), text) if system == "rlm" else run_direct(item, a, text, backend, window)
                outcomes.append(o)
                if store is not None:
                    store.add(row | asdict(o) | {"window_tokens": window})
            print("  item", item.index, " ".join(f"{o.system}={o.score:.2f}" for o in outcomes if o.index == item.index),
                  flush=True)
    rows = [r for r in store.rows if _mine(r, a)] if store is not None else [_row(a, None, o.system) | asdict(o) for o in outcomes]
    return {"task": a.task, "length_tokens": a.length, "n": a.n, "seed": a.seed, "policy": a.policy,
            "model": a.model if a.policy != "oracle" else "oracle", "window_tokens": window, "window_source": window_src,
            "summary": [s for s in (summarize_outcomes(rows, "rlm"), summarize_outcomes(rows, "direct")) if s],
            "table": summarize(rows), "items": [asdict(o) for o in outcomes]}


def _row(a: Args, item: Item | None, system: str) -> dict:
    return {"task": a.task, "length_tokens": a.length, "seed": a.seed, "index": item.index if item else None,
            "system": system, "model": a.label}


def _mine(row: dict, a: Args) -> bool:
    return (row.get("task"), row.get("length_tokens"), row.get("seed"), row.get("model")) == (
        a.task, a.length, a.seed, a.label) and row.get("index", 0) < a.n and row.get("system") in a.systems


def summarize_outcomes(rows: list[dict], system: str) -> dict:
    mine = [r for r in rows if r["system"] == system]
    if not mine:
        return {}
    n = len(mine)
    return {"system": system, "n": n, "accuracy": sum(r["score"] for r in mine) / n,
            "cost_usd": sum(r["cost_usd"] for r in mine), "prompt_tokens": sum(r["prompt_tokens"] for r in mine) / n,
            "completion_tokens": sum(r["completion_tokens"] for r in mine) / n, "seconds": sum(r["seconds"] for r in mine) / n,
            "failures": sum(r["status"] not in ("ok", "unsupported") for r in mine),
            "kept_fraction": sum(r["kept_fraction"] for r in mine) / n}


def report(res: dict) -> None:
    rows = []
    for s in res["summary"]:
        trunc = ""
        if s["system"] == "direct":
            trunc = f"kept {s['kept_fraction']:.0%} of context (window {res['window_tokens']:,} tok, {res['window_source']})"
        rows.append([s["system"], f"{s['accuracy']:.3f}", f"${s['cost_usd']:.4f}", f"{s['prompt_tokens']:,.0f}",
                     f"{s['completion_tokens']:,.0f}", f"{s['seconds']:.2f}", s["failures"], trunc])
    title = (f"task {res['task']}  length {res['length_tokens']:,} tokens  n={res['n']}  seed={res['seed']}  "
             f"policy={res['policy']}  model={res['model']}")
    print_grid(title, ["system", "accuracy", "cost", "prompt tok/item", "compl tok/item", "s/item", "failed", "truncation"],
               rows)


def print_report(path: str, as_markdown: bool) -> int:
    summary = summarize(load(Path(path)))
    if as_markdown:
        print(markdown(summary), end="")
    else:
        print_grid(f"results: {path}", HEADERS, table_rows(summary))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.tasks", description=__doc__.split("\n\n")[0])
    p.add_argument("--task", "-t", default="needle", choices=list(TASKS))
    p.add_argument("--length", "-l", default="8K", help="context length in tokens: 8K, 128K, 1M, 10M ...")
    p.add_argument("--n", type=int, default=5, help="items")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--policy", choices=["model", "oracle"], default="model")
    p.add_argument("--profile", "-p", default=None)
    p.add_argument("--model", "-m", default=None)
    p.add_argument("--sub-model", default=None)
    p.add_argument("--api-base", default=None)
    p.add_argument("--window", type=int, default=None, help="direct baseline window in tokens (default: model info)")
    p.add_argument("--only", choices=["rlm", "direct"], default=None, help="run one system only")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per item and system")
    p.add_argument("--json-out", default=None)
    p.add_argument("--results", default=None, metavar="FILE",
                   help="append each finished item to this JSON-lines file; items already in it are skipped (resume)")
    p.add_argument("--report", default=None, metavar="FILE", help="print the table of a results file and exit")
    p.add_argument("--markdown", action="store_true", help="with --report: a Markdown table")
    p.add_argument("rlm_args", nargs="*", help="extra arguments for `rlm ask` (after --)")
    ns = p.parse_args(argv)
    if ns.report:
        return print_report(ns.report, ns.markdown)
    if ns.policy == "model" and not (ns.model or ns.profile):
        p.error("give -m MODEL or -p PROFILE (or --policy oracle)")
    a = Args(ns.task, parse_length(ns.length), ns.n, ns.seed, ns.policy, ns.model, ns.sub_model, ns.api_base,
             ns.profile, ns.window, [ns.only] if ns.only else ["rlm", "direct"], ns.timeout, ns.rlm_args, ns.results)
    res = run(a)
    report(res)
    path = write_results(f"tasks-{a.task}-{ns.length}", res, ns.json_out)
    print(f"\nresults: {path}")
    return 0
