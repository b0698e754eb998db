"""The oracle policy: correct REPL code for each task, written from the question's parameters only
(never from the gold answer), to sanity-check generators and scoring end to end."""
from __future__ import annotations

import json
from pathlib import Path

from .base import Item

_NEEDLE = """import re
found, cites = {{}}, []
for key in {keys!r}:
    m = re.search(r'One of the special magic numbers for ' + re.escape(key) + r' is: (\\d+)\\.', context)
    found[key] = m.group(1) if m else 'not found'
    cites.append(m)
FINAL('\\n'.join(f'{{k}}={{v}}' for k, v in found.items()) if len(found) > 1 else next(iter(found.values())),
      evidence=[m for m in cites if m])"""

_RECORDS = """import re
from collections import Counter
rows = re.findall(r'^Record \\d+ \\| user: (\\S+) \\| city: (\\S+) \\| label: (\\S+) \\|', context, re.M)
counts = Counter(label for _, _, label in rows)
"""

_COUNT = _RECORDS + "FINAL(str(counts[{label!r}]))"
_TOP = _RECORDS + "FINAL(counts.most_common(1)[0][0])"
_COMPARE = _RECORDS + """a, b = counts[{a!r}], counts[{b!r}]
FINAL('more' if a > b else 'less' if a < b else 'same')"""
_PAIRS = _RECORDS + """import itertools
users = sorted({{u for u, c, l in rows if l == {label!r} and c == {city!r}}})
FINAL('\\n'.join(f'{{a}}-{{b}}' for a, b in itertools.combinations(users, 2)))"""

_HOP = """import re
person = {person!r}
company = re.search(re.escape(person) + r' is employed by ([^.]+)\\.', context).group(1)
city = re.search(r'The head office of ' + re.escape(company) + r' is in the city of ([^.]+)\\.', context).group(1)
m = re.search(r'The city of ' + re.escape(city) + r' lies in the country of ([^.]+)\\.', context)
FINAL(m.group(1), evidence=m)"""


def code_for(item: Item) -> str:
    p = item.params
    if item.task in ("needle", "multi_needle"):
        return _NEEDLE.format(keys=p["keys"])
    if item.task == "aggregate":
        return {"count": _COUNT, "most_frequent": _TOP, "compare": _COMPARE}[p["kind"]].format(**p)
    if item.task == "pairwise":
        return _PAIRS.format(**p)
    if item.task == "multihop":
        return _HOP.format(**p)
    raise ValueError(f"no oracle for task {item.task!r}")


def scripted_model(item: Item, path: str | Path) -> str:
    """Write a scripted-model file whose first reply is the oracle code; return the `-m` model name."""
    reply = f"```repl\n{code_for(item)}\n```"
    Path(path).write_text(json.dumps({"rules": [{"when": "", "reply": reply}], "default": "FINAL('gave up')"}))
    return f"scripted/{path}"


def solve(item: Item, text: str) -> str | None:
    """Run the oracle code in-process over `text` (the direct baseline's perfect reader of what it sees)."""
    answer: list = []

    def final(value, *evidence, **kw):
        answer.append(str(value))
        raise _Done

    try:
        exec(code_for(item), {"context": text, "FINAL": final})
    except _Done:
        return answer[0]
    except Exception:  # the needed facts were cut off: the reader finds nothing
        return None
    return None


class _Done(Exception):
    pass
