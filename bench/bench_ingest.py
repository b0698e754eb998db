"""Ingestion benchmark: `python -m bench.bench_ingest [--pages 350] [--text-mb 100]`.

Inputs are generated in a temp dir. Each case runs in a fresh subprocess so that its peak RSS
(ru_maxrss) is its own. Targets (issue 4): cold 350-page PDF < 0.5 s; cached re-run < 0.2 s;
text > 100 MB/s; peak RSS < 3x extracted text + 150 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    """Peak RSS of this process, or of its largest worker process if that is bigger (Linux: KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 1024


def _line(i: int, k: int) -> str:
    return f"{k:02d} Paragraph text for page {i}: supplier ACME-{(i * 7 + k) % 97} missed deadline Q{k % 4 + 1}; résumé naïve."


def case(name: str, path: str) -> dict:
    """Runs inside the child process."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("RLM_HOME", tempfile.mkdtemp(prefix="rlm-bench-home-"))
    from rlm_cli.ingest import load_sources
    from rlm_cli.ingest import pdf as pdfmod

    t0 = time.perf_counter()
    if name == "pdfium-single":
        parsed = pdfmod.read_pdfium(path, parallel=False)
        chars, pages = len(parsed.text), len(parsed.pages)
    elif name == "pdfium-parallel":
        parsed = pdfmod.read_pdfium(path, parallel=True)
        chars, pages = len(parsed.text), len(parsed.pages)
    elif name == "pypdf":
        parsed = pdfmod.read_pypdf(path)
        chars, pages = len(parsed.text), len(parsed.pages)
    elif name in ("pdf-cold", "docx-cold", "text"):
        ctx = load_sources([path], use_cache=False)
        chars, pages = len(ctx.text), sum(len(s.pages) for s in ctx.sources)
    elif name in ("pdf-cached", "docx-cached"):
        load_sources([path])  # fill the cache (not timed)
        t0 = time.perf_counter()
        ctx = load_sources([path])
        chars, pages = len(ctx.text), sum(len(s.pages) for s in ctx.sources)
    else:
        raise SystemExit(f"unknown case {name}")
    secs = time.perf_counter() - t0
    return {"case": name, "seconds": secs, "chars": chars, "pages": pages,
            "size": os.path.getsize(path), "rss_mb": _rss_mb()}


def run_child(name: str, path: Path, home: Path) -> dict:
    env = dict(os.environ, RLM_HOME=str(home), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-m", "bench.bench_ingest", "--case", name, "--input", str(path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_inputs(d: Path, pages: int, text_mb: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from tests import ingest_fixtures as fx

    t = time.perf_counter()
    pdf = fx.make_pdf(d / "book.pdf", pages, lines_per_page=48, line_factory=_line)
    docx = fx.make_docx(d / "long.docx", extra_paragraphs=20_000)
    line = "2024-05-01T12:00:00Z INFO worker-7 request id=abc123 served /api/v1/items in 12ms — ok\n"
    txt = d / "big.log"
    chunk = (line * (1_000_000 // len(line.encode()) + 1)).encode("utf-8")
    with open(txt, "wb") as fh:
        for _ in range(text_mb):
            fh.write(chunk[:1_000_000])
    print(f"(inputs generated in {time.perf_counter() - t:.1f}s in {d})", file=sys.stderr)
    return {"pdf": pdf, "docx": docx, "text": txt}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=350)
    ap.add_argument("--text-mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for the timed cases")
    ap.add_argument("--case")
    ap.add_argument("--input")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(case(args.case, args.input)))
        return
    with tempfile.TemporaryDirectory(prefix="rlm-bench-") as tmp:
        d = Path(tmp)
        inputs = make_inputs(d, args.pages, args.text_mb)
        plan = [
            ("pdfium-single", "pdf", "pages/s"), ("pdfium-parallel", "pdf", "pages/s"), ("pypdf", "pdf", "pages/s"),
            ("pdf-cold", "pdf", "pages/s"), ("pdf-cached", "pdf", "pages/s"),
            ("docx-cold", "docx", "MB/s"), ("docx-cached", "docx", "MB/s"), ("text", "text", "MB/s"),
        ]
        rows = []
        for name, kind, unit in plan:
            best = None
            for r in range(args.repeat if name != "pypdf" else 1):
                home = d / f"home-{name}-{r}"
                res = run_child(name, inputs[kind], home)
                if best is None or res["seconds"] < best["seconds"]:
                    best = res
            rows.append((name, unit, best))
        print(f"{'case':<16} {'seconds':>8} {'rate':>14} {'chars':>12} {'peak RSS':>9} {'RSS budget':>10}")
        for name, unit, r in rows:
            rate = r["pages"] / r["seconds"] if unit == "pages/s" else r["size"] / 1e6 / r["seconds"]
            budget = 3 * r["chars"] * 1 / 1e6 + 150  # 3x text (1 byte/char, ASCII-ish) + 150 MB
            print(f"{name:<16} {r['seconds']:>8.3f} {rate:>9,.0f} {unit:<4} {r['chars']:>12,} {r['rss_mb']:>7.0f}MB {budget:>8.0f}MB")
        print(f"(PDF: {args.pages} pages, {os.path.getsize(inputs['pdf']) / 1e6:.1f} MB; DOCX "
              f"{os.path.getsize(inputs['docx']) / 1e6:.2f} MB; text {args.text_mb} MB; cores: {os.cpu_count()}; "
              f"best of {args.repeat}, each case in a fresh process)")


if __name__ == "__main__":
    main()
