#!/bin/sh
# The local-model accuracy table of docs/benchmarks.md ("Task suite: the local model against direct
# prompting"): one `python -m bench.tasks` per row, most important rows first, every finished item
# appended to one results file (re-running this script resumes where it stopped). Then:
#   python -m bench.tasks --report bench/results/tasks-local-table.jsonl --markdown
# With a hosted profile: PROFILE=openai sh bench/tasks/local_table.sh  (and another RESULTS file).
set -u
PROFILE=${PROFILE:-local}
RESULTS=${RESULTS:-bench/results/tasks-local-table.jsonl}
PY=${PYTHON:-python}
for row in "needle 32K" "needle 128K" "needle 4K" "aggregate 32K" "multihop 32K" "aggregate 4K" "multihop 4K" \
           "needle 1M" "aggregate 128K" "multihop 128K"; do
    set -- $row
    echo "== $(date -u +%H:%M:%S) $PY -m bench.tasks -p $PROFILE --task $1 --length $2 --n 10 --results $RESULTS"
    $PY -m bench.tasks -p "$PROFILE" --task "$1" --length "$2" --n 10 --results "$RESULTS" --json-out /dev/null
done
