"""Multi-hop facts spread over several documents in a directory: person -> company -> city -> country."""
from __future__ import annotations

import random

from .base import CHARS_PER_TOKEN, Item, filler, insert_at

FIRST = ["Alma", "Bruno", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kaito", "Lena",
         "Marek", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Stefan", "Talia"]
LAST = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Byrne", "Rossi"]
COMPANY = ["Veridian", "Quillon", "Northwind", "Brightmoor", "Calloway", "Duskfield", "Emberline", "Fairhaven",
           "Glimmerstone", "Hollowbrook", "Ironvale", "Juniper"]
CITY = ["Aldermere", "Brackwater", "Coldharbor", "Dunmarrow", "Eastwick", "Frostholm", "Greywater", "Highcliff",
        "Ivybridge", "Kingsreach"]
COUNTRY = ["Norland", "Estavia", "Marovia", "Sundar", "Kelvaria", "Ostmark", "Valdoria", "Zephyria"]


def multihop(index: int, length: int, seed: int, docs: int = 6) -> Item:
    rng = random.Random(f"multihop:{seed}:{length}:{index}")
    people = rng.sample([f"{f} {l}" for f in FIRST for l in LAST], 6)
    companies = [f"{c} {rng.choice(['Labs', 'Holdings', 'Works', 'Systems'])}" for c in rng.sample(COMPANY, 6)]
    cities = rng.sample(CITY, 6)
    countries = rng.sample(COUNTRY, 6)
    facts = []
    for i, p in enumerate(people):  # every chain is complete: the others are distractors
        facts.append(f"Records show that {p} is employed by {companies[i]}.")
    for i, c in enumerate(companies):
        facts.append(f"The head office of {c} is in the city of {cities[(i + 1) % 6]}.")
    for i, c in enumerate(cities):
        facts.append(f"The city of {c} lies in the country of {countries[(i + 2) % 6]}.")
    rng.shuffle(facts)
    per_doc = length * CHARS_PER_TOKEN // docs
    bins: list[list[str]] = [[] for _ in range(docs)]
    for i, f in enumerate(facts):
        bins[i % docs].append(f)
    texts = {f"doc{d + 1:02d}.txt": insert_at(filler(rng, per_doc - sum(len(x) + 1 for x in b)),
                                              [(rng.random(), x) for x in b]) for d, b in enumerate(bins)}
    who = rng.randrange(6)
    city = cities[(who + 1) % 6]
    answer = countries[(cities.index(city) + 2) % 6]
    q = f"In which country is the head office of the company that employs {people[who]}? Answer with the country only."
    gold = [f"The city of {city} lies in the country of {answer}."]  # the fact that names the answer
    return Item("multihop", index, seed, length, q, answer, "exact", texts, {"person": people[who], "evidence": gold})
