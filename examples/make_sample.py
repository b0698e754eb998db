"""Regenerate examples/sample.txt: a fictional company's 2025 annual report and board minutes.

All names, figures and events are invented. Deterministic (seeded), so the facts listed in
examples/questions.md stay true:  python examples/make_sample.py > examples/sample.txt
"""
import random
import textwrap

rng = random.Random(2025)
COMPANY = "Halvorsen Marine Instruments ASA"
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December"]
BOARD = ["Ingrid Halvorsen (Chair)", "Tomas Eide", "Priya Raman", "Jonas Lund", "Mette Solberg"]
MANAGERS = ["Kari Nygaard (CEO)", "Olav Brekke (CFO)", "Sunniva Dahl (COO)", "Rafael Ortiz (CTO)"]
SUPPLIERS = ["Nordvik Electronics", "Brightwater Castings", "Fjellstad Polymers", "Akerby Optics",
             "Strand Cable Works", "Lofoten Sensor Glass", "Varanger Batteries", "Kystlinje Logistics"]
PRODUCTS = ["DeepSound DS-4 echo sounder", "TideLog 2 current meter", "NavCore compass module",
            "BuoyNet telemetry buoy", "HullGuard corrosion sensor", "ClearView underwater camera"]
TOPICS = ["the quality backlog", "the ERP migration", "spare-part pricing", "the apprentice programme",
          "energy use at the Bergen plant", "warranty returns", "the dealer network in Chile",
          "cyber-security training", "the new test tank", "customer support response times",
          "freight costs", "the employee survey", "the trade fair in Hamburg", "the office lease in Oslo"]
REVENUE = {"Q1": 118.4, "Q2": 131.9, "Q3": 127.2, "Q4": 146.5}  # NOK million; total 524.0


def para(*sentences):
    return textwrap.fill(" ".join(sentences), width=96) + "\n\n"


def filler_sentence():
    topic = rng.choice(TOPICS)
    who = rng.choice(MANAGERS).split(" (")[0]
    forms = [
        f"{who} gave an update on {topic}; the board took note and asked for a follow-up at a later meeting.",
        f"Discussion of {topic} continued. {who} reported steady progress and no decisions were required.",
        f"The board reviewed a short memo on {topic} prepared by {who} and had no further comments.",
        f"{who} summarised feedback on {topic} from the regional offices; actions are tracked in the register.",
        f"Questions were raised about {topic}. {who} will circulate a written answer before the next meeting.",
    ]
    return rng.choice(forms)


def minutes(n, month, day, chair, special):
    out = f"BOARD MEETING {n} - {day} {month} 2025\n" + "-" * 40 + "\n\n"
    present = [b for b in BOARD if rng.random() > 0.15 or b.startswith("Ingrid")]
    out += para(f"Present: {', '.join(present)}. From management: {', '.join(MANAGERS)}.",
                f"The meeting was chaired by {chair}. Minutes were taken by the company secretary.")
    out += para("1. Approval of the agenda and of the minutes of the previous meeting.",
                "Both were approved without changes.")
    for item in range(2, 2 + rng.randint(3, 5)):
        out += f"{item}. " + para(*[filler_sentence() for _ in range(rng.randint(2, 4))])
    if special:
        out += f"{item + 1}. " + para(special)
    out += para("The meeting was adjourned.")
    return out


SPECIAL = {
    2: "The board approved a dividend of NOK 4.20 per share for the 2024 financial year, to be paid on 14 March 2025.",
    5: ("Supply chain: Olav Brekke reported that Brightwater Castings missed the Q3 delivery deadline for "
        "DS-4 housings by 19 days, which delayed 340 echo sounders. Nordvik Electronics and Akerby Optics "
        "delivered on time. The board asked for a second source for castings."),
    7: ("The board approved the purchase of a warehouse in Tromso for NOK 38.5 million, with handover on "
        "1 November 2025. Jonas Lund declared a conflict of interest and did not take part in the vote."),
    9: ("Rafael Ortiz presented the HullGuard recall: 1,212 sensors shipped between May and July carried a "
        "faulty seal from Fjellstad Polymers. Replacement cost is estimated at NOK 6.1 million."),
    11: ("The board appointed Priya Raman as chair of the audit committee from 1 January 2026, replacing "
         "Tomas Eide, who remains a board member."),
}


def report():
    out = f"{COMPANY}\nANNUAL REPORT 2025\n" + "=" * 40 + "\n\n"
    out += para(f"{COMPANY} designs and builds instruments for ships, fish farms and ocean research.",
                "Headquarters are in Bergen, Norway, with sales offices in Aberdeen, Halifax and Valparaiso.",
                "This document contains the directors' report and the minutes of the board meetings held in 2025.",
                "Every name and figure in it is fictional.")
    out += "DIRECTORS' REPORT\n" + "-" * 40 + "\n\n"
    out += para("The year was marked by strong demand from aquaculture customers and by supply problems in the "
                "second half. Quarterly figures are given in the quarterly sections below.")
    for q, rev in REVENUE.items():
        out += f"QUARTER {q[1]} REVIEW\n\n"
        out += para(f"Revenue in {q} 2025 was NOK {rev} million.",
                    *[filler_sentence() for _ in range(rng.randint(6, 10))])
        for product in rng.sample(PRODUCTS, 3):
            units = rng.randint(200, 2400)
            out += para(f"Shipments of the {product} reached {units:,} units in {q}.", filler_sentence())
    out += para("Headcount at 31 December 2025 was 412 employees, up from 377 a year earlier.",
                "Sick leave was 3.9 percent. The company hired 11 apprentices.")
    out += "BOARD MINUTES 2025\n" + "=" * 40 + "\n\n"
    chairs = ["Ingrid Halvorsen"] * 9 + ["Tomas Eide"] * 3
    rng.shuffle(chairs)
    for n, month in enumerate(MONTHS, 1):
        out += minutes(n, month, rng.randint(5, 26), chairs[n - 1], SPECIAL.get(n, ""))
    out += "SUPPLIER REGISTER (EXTRACT)\n" + "-" * 40 + "\n\n"
    for s in SUPPLIERS:
        out += para(f"{s}: framework agreement renewed in 2025; on-time delivery rate "
                    f"{rng.randint(86, 99) if s != 'Brightwater Castings' else 81} percent.", filler_sentence())
    return out


if __name__ == "__main__":
    text = report()
    while len(text.encode()) < 60_000:  # appendix of routine notes to reach a realistic length
        text += "APPENDIX NOTE\n\n" + para(*[filler_sentence() for _ in range(8)])
    print(text, end="")
