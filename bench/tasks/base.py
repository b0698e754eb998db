"""What every task generator produces: an Item (question, gold answer, documents) and shared helpers."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

CHARS_PER_TOKEN = 4  # lengths are in approximate tokens (chars / 4, as rlm's own estimate)


@dataclass
class Item:
    task: str
    index: int
    seed: int
    length_tokens: int
    question: str
    answer: object  # str | int | list[str] | list[tuple[str, str]]; see scoring.score
    scoring: str  # exact | numeric | multi | pairs
    docs: dict[str, str] = field(default_factory=dict)  # file name -> text
    params: dict = field(default_factory=dict)  # what the oracle needs to write its code

    @property
    def chars(self) -> int:
        return sum(len(t) for t in self.docs.values())

    def write(self, directory: str | Path) -> list[str]:
        """Write the documents; return what to pass to `rlm ask` (one file, or the folder of several)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in self.docs.items():
            (directory / name).write_text(text, encoding="utf-8")
        if len(self.docs) == 1:
            return [str(directory / next(iter(self.docs)))]
        return [str(directory)]


_SUBJECTS = ["The committee", "A farmer", "The old bridge", "Our neighbour", "The river", "The archive", "A traveller",
             "The orchestra", "The lighthouse keeper", "The council", "A small bakery", "The museum", "The engineer",
             "The harbour", "A student", "The library", "The village", "The mountain road", "The gardener", "The ferry"]
_VERBS = ["reviewed", "painted", "crossed", "described", "repaired", "ignored", "welcomed", "measured", "remembered",
          "visited", "studied", "cleaned", "photographed", "mentioned", "replaced", "admired", "questioned", "followed"]
_OBJECTS = ["the autumn records", "a long wooden fence", "the morning light", "several quiet streets", "the weather",
            "an unfinished letter", "the northern fields", "a box of old maps", "the evening train", "the tall windows",
            "a forgotten song", "the stone wall", "the market square", "a pile of books", "the narrow stairs"]
_TAILS = ["before noon.", "without a word.", "once again.", "in the rain.", "with great care.", "for the third time.",
          "as usual.", "late that year.", "on a Tuesday.", "while it was dark.", "and moved on.", "quite slowly."]


def sentences(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}" for _ in range(n)]


def filler(rng: random.Random, chars: int) -> str:
    """About `chars` characters of bland, deterministic essay-like filler (paragraphs of sentences)."""
    if chars <= 0:
        return ""
    pool = [" ".join(sentences(rng, 6)) + "\n" for _ in range(400)]  # ~400 distinct paragraphs
    avg = sum(map(len, pool)) / len(pool)
    text = "".join(rng.choices(pool, k=int(chars / avg) + 1))
    return text[:chars]


def insert_at(text: str, pieces: list[tuple[float, str]]) -> str:
    """Insert each piece at a relative depth (0..1) of text, on a line boundary."""
    out, last = [], 0
    for depth, piece in sorted(pieces):
        pos = int(depth * len(text))
        nl = text.find("\n", pos)
        pos = len(text) if nl < 0 else nl + 1
        pos = max(pos, last)
        out += [text[last:pos], piece if piece.endswith("\n") else piece + "\n"]
        last = pos
    out.append(text[last:])
    return "".join(out)


def parse_length(text: str) -> int:
    """Decimal suffixes: '8K' -> 8,000 tokens, '1M' -> 1,000,000; a plain number as given."""
    t = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(t[-1:], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)
