#!/bin/sh
# A cron job that asks rlm one question a day and keeps the answer in a file.
#
#   crontab -e
#   0 6 * * *  /path/to/examples/cron.sh /srv/feed /srv/answers
#
# -q: nothing on stderr unless something fails (cron mails stderr); -o: the answer is written
# atomically, so readers never see half a file, and an old answer is not replaced by a failed run.
# The exit status says what happened (see `man rlm`, EXIT STATUS).
set -u

FEED=${1:-./feed}                  # a file or a directory of documents
OUT_DIR=${2:-./answers}
QUESTION=${QUESTION:-"What is new since yesterday? List the three most important items."}
PROFILE=${RLM_PROFILE:-}           # or set a profile here; keys come from the environment
TODAY=$(date +%Y-%m-%d)

mkdir -p "$OUT_DIR"
rlm ask -q ${PROFILE:+-p "$PROFILE"} --max-cost 0.50 --timeout 900 \
    -o "$OUT_DIR/$TODAY.md" --format markdown "$FEED" "$QUESTION"
status=$?

case $status in
  0)   ln -sf "$TODAY.md" "$OUT_DIR/latest.md" ;;                       # answered
  3)   echo "rlm: input problem with $FEED (missing, unreadable or empty)" >&2 ;;
  4)   echo "rlm: model backend failed (key, server, rate limit): run 'rlm doctor'" >&2 ;;
  5)   echo "rlm: budget or time limit reached before an answer; see 'rlm logs list'" >&2 ;;
  6)   echo "rlm: answer without verified evidence (--evidence required); not published" >&2 ;;
  130) echo "rlm: interrupted" >&2 ;;
  *)   echo "rlm: failed with exit status $status" >&2 ;;
esac
exit $status
