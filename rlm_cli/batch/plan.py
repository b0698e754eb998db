"""What is left to do: the task list against the results already saved (resume)."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field

from ..errors import UsageError
from .results import Existing
from .tasks import Task


@dataclass
class Plan:
    todo: list[Task] = field(default_factory=list)
    done: int = 0  # answered in an earlier run: skipped
    failed: int = 0  # failed in an earlier run: skipped (--retry-failed runs them)
    failed_codes: collections.Counter = field(default_factory=collections.Counter)  # their exit codes
    rerun: set[str] = field(default_factory=set)  # ids whose saved record is dropped before they run again
    changed: list[str] = field(default_factory=list)  # ids whose question or sources differ from the saved ones
    orphans: int = 0  # saved results for ids no longer in the task list (kept)
    total: int = 0


def plan(tasks: list[Task], existing: Existing, *, retry_failed: bool = False, rerun_changed: bool = False,
         results_name: str = "the results file") -> Plan:
    p = Plan(total=len(tasks))
    ids = set()
    for t in tasks:
        ids.add(t.id)
        saved = existing.records.get(t.id)
        if saved is None:
            p.todo.append(t)
        elif saved.question != t.question or list(saved.sources) != list(t.sources):
            p.changed.append(t.id)
            p.todo.append(t)
            p.rerun.add(t.id)
        elif saved.status == "ok":
            p.done += 1
        elif retry_failed:
            p.todo.append(t)
            p.rerun.add(t.id)
        else:
            p.failed += 1
            p.failed_codes[saved.exit_code or 1] += 1
    p.orphans = sum(1 for i in existing.records if i not in ids)
    if p.changed and not rerun_changed:
        raise UsageError(_changed_message(p.changed, results_name),
                         hint="--rerun-changed answers them again (replacing their results), or write to another -o file")
    return p


def _changed_message(changed: list[str], results_name: str) -> str:
    first = ", ".join(f"'{i}'" for i in changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    what = "task has a different question or sources than its" if len(changed) == 1 else \
        "tasks have a different question or sources than their"
    return f"{len(changed)} {what} result in {results_name}: {first}"
