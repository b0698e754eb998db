"""`rlm logs show --html`: one self-contained page, checked in real headless Chromium (skipped without it)."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from test_render import RULES, TEXT

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.fixture
def page(cli, script, tmp_path):
    doc = tmp_path / "report.txt"
    doc.write_text(TEXT, encoding="utf-8")
    r = cli(["ask", doc, "Which supplier missed the deadline? <b>bold?</b>", "-m", script(RULES)])
    assert r.exit_code == 0, r.stderr
    out = tmp_path / "run.html"
    r = cli(["logs", "show", "--html", "latest", "-o", out])
    assert r.exit_code == 0 and r.stdout == "", r.stderr
    return out


def test_page_is_self_contained_and_escaped(page):
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no network assets
    assert "<link" not in html and "@import" not in html
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html and "<b>bold?</b>" not in html  # user text is escaped
    assert html.count('<details class="node') == 3


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_renders_in_headless_chromium(page, tmp_path):
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=2000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=60,
    )
    dom = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'data-ready="1"' in dom  # the inline script ran
    assert '<span id="stats">3 RLM nodes, 6 iterations</span>' in dom  # counted by the script from the DOM
    assert dom.count("<details") >= 3 + 6 + 4  # nodes, iterations, sub-calls are collapsible
    assert "r.2 Find the quarter" in dom and "llm_query_batched" in dom
    assert "<strong>ACME</strong> missed the deadline." in dom  # the answer's Markdown
    assert "Summarize part 0" in dom and "Summary of part 0" in dom  # batch items with their results
    assert re.search(r"\d+ tokens · \$0\.0000", dom)  # costs and tokens per node
