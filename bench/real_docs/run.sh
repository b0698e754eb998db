#!/bin/bash
# Ask the questions of bench/results/real-docs-questions.tsv (file TAB question TAB expected) of the
# built-in model, one run each, from the current folder (which must hold the files; see
# docs/benchmarks.md for where each comes from). Usage: run.sh RLM_COMMAND OUT.tsv [QUESTIONS.tsv]
set -u
here=$(cd "$(dirname "$0")" && pwd)
rlm=${1:-rlm}; out=${2:-real-docs.tsv}; questions=${3:-$here/../results/real-docs-questions.tsv}
export RLM_HOME=${RLM_HOME:-$PWD/rlm-home}
while IFS=$'\t' read -r f q a; do
  s=$(date +%s)
  json=$(timeout 900 $rlm ask "$f" "$q" -p local --json 2>/dev/null < /dev/null)
  e=$(( $(date +%s) - s ))
  line=$(printf '%s' "$json" | python3 -c "import json,sys; j=json.load(sys.stdin); print(repr((j['answer'] or '')[:120]), j.get('confidence','-'), j.get('status'), j['iterations'])" 2>&1 | tail -1)
  if printf '%s' "$json" | EXPECTED="$a" python3 -c "import json,os,sys; j=json.load(sys.stdin); sys.exit(0 if os.environ['EXPECTED'].lower() in (j['answer'] or '').lower() else 1)" 2>/dev/null; then r=RIGHT; else r=wrong; fi
  printf '%s\t%s\t%ss\t%s\t%s\n' "$f" "$r" "$e" "$q" "$line" >> "$out"
done < "$questions"
