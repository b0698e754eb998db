"""Compaction of the root conversation keeps a stable head and drops from the middle in large steps,
so a backend's prompt-prefix cache survives between compactions."""
from __future__ import annotations

from rlm_cli import defaults
from rlm_cli.engine.history import OMITTED, fit_history


def count(text: str) -> int:
    return len(text) // 4


def turn(i: int) -> list[dict]:
    return [{"role": "assistant", "content": f"reply {i} " + "r" * 600},
            {"role": "user", "content": f"output {i} " + "o" * 1000}]


def test_compaction_keeps_the_head_and_only_appends_between_steps():
    window = 4000
    messages = [{"role": "system", "content": "s" * 2000}, {"role": "user", "content": "Question: q " + "x" * 400}]
    compactions, heads, prefix_kept = 0, set(), 0
    for i in range(40):
        before = [dict(m) for m in messages]
        messages += turn(i)
        if fit_history(messages, window, count):
            compactions += 1
            heads.add(tuple(m["content"] for m in messages[:4]))
        else:
            assert messages[:len(before)] == before  # nothing changed: the cached prefix is intact
            prefix_kept += 1
        assert sum(count(m["content"]) for m in messages) <= window * defaults.COMPACT_AT
        roles = [m["role"] for m in messages]
        assert roles[0] == "system" and all(a != b for a, b in zip(roles[1:], roles[2:]))  # user/assistant alternate
    assert messages[1]["content"].startswith("Question: q") and messages[3]["content"] == OMITTED
    assert len(heads) == 1  # the same head after every compaction
    assert 8 <= compactions <= 14 and prefix_kept >= 26  # large steps: most turns reuse the whole prefix
    assert messages[-1]["content"].startswith("output 39") and messages[-2]["content"].startswith("reply 39")


def test_no_window_or_a_short_conversation_is_left_alone():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}] + turn(0)
    assert not fit_history(messages, None, count) and not fit_history(messages, 100_000, count)
    assert len(messages) == 4


def test_the_last_two_turns_stay_even_when_they_alone_are_too_big():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]
    for _ in range(4):
        messages += [{"role": "assistant", "content": "r" * 4000}, {"role": "user", "content": "o" * 4000}]
    fit_history(messages, 2000, count)
    assert [m["content"][:1] for m in messages] == ["s", "q", "(", "[", "r", "o", "r", "o"]
