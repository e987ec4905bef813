#!/usr/bin/env bash
# Try the bot on this machine: installs what is needed, starts the bot (local mode, SQLite under var/, the
# invented demo directory) and one Microsoft 365 Agents Playground per person in front of it, and prints the
# address of each person's Teams. Ctrl-C stops everything.
#
#   scripts/try.sh                      Alex Wilber's Teams (a Durham IRO) on http://localhost:56150
#   scripts/try.sh --as alex --as ruth  one window per person named, on 56150, 56151, ... (either partnership)
#   scripts/try.sh --people             list the people one can be (id, name, who they are) and exit
#   scripts/try.sh --with-megan         the same as --as alex --as megan
#   scripts/try.sh --no-install         skip scripts/install.sh (already installed)
#
# Environment: PORT (bot, default 3978), PLAYGROUND_PORT (the first window, default 56150), DATABASE_URL
# (default SQLite file var/challenge-bot.db), DIRECTORY_FILE (demo directory), TRY_RUN_DIR (var/try),
# SMTP_HOST (else a local mail catcher on MAIL_PORT, 8025). CHALLENGE_DATA_KEY: unset, the bot makes its data
# encryption key beside the SQLite file (var/data-key, mode 0600), and `challenge-bot tick` finds it there.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

PEOPLE=()
LIST=0
INSTALL=1
while [ "$#" -gt 0 ]; do
  case "$1" in
    --as)
      if [ "$#" -lt 2 ]; then echo "try.sh: --as needs a person's id (see --people)" >&2; exit 2; fi
      PEOPLE+=("$2")
      shift ;;
    --as=*) PEOPLE+=("${1#--as=}") ;;
    --with-megan) PEOPLE+=(alex megan) ;;
    --people) LIST=1 ;;
    --no-install) INSTALL=0 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "try.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ "${#PEOPLE[@]}" = 0 ]; then PEOPLE=(alex); fi

DIRECTORY_ARGS=()
if [ -n "${DIRECTORY_FILE:-}" ] && [ "${DIRECTORY_FILE,,}" != none ]; then
  DIRECTORY_ARGS=(--directory "$DIRECTORY_FILE")
fi
list_people() {
  .venv/bin/python -m bot playground people "${DIRECTORY_ARGS[@]}"
  echo
  echo "Open Teams as any of them: bash scripts/try.sh --as ID [--as ID ...]"
}
if [ "$LIST" = 1 ] && [ -x .venv/bin/python ]; then
  list_people
  exit 0
fi

BOT_PORT="${PORT:-3978}"
PLAYGROUND_PORT="${PLAYGROUND_PORT:-56150}"
PLAYGROUND_CLI="$REPO/tests/node/node_modules/@microsoft/m365agentsplayground/cli.js"
RUN_DIR="${TRY_RUN_DIR:-var/try}"
mkdir -p "$RUN_DIR"
RUN_DIR="$(cd "$RUN_DIR" && pwd)"  # absolute, so the commands printed below work from any folder

# One database for the bot and for `challenge-bot tick`, named by an absolute path: a relative SQLite path
# names another file when tick runs from another folder.
DATABASE_URL="${DATABASE_URL:-sqlite+aiosqlite:///$REPO/var/challenge-bot.db}"
case "$DATABASE_URL" in
  sqlite*:///[!/]*) DATABASE_URL="${DATABASE_URL%%:///*}:///$REPO/${DATABASE_URL#*:///}" ;;
esac
# The trial's clock: the bot and `tick` share it, and `tick --advance 3d` moves it forward for both.
TRIAL_CLOCK_FILE="$RUN_DIR/clock.json"
export DATABASE_URL TRIAL_CLOCK_FILE

if [ "$INSTALL" = 1 ]; then
  echo "Installing (the first run takes a minute or two; log: $RUN_DIR/install.log)..."
fi
if [ "$INSTALL" = 1 ] && ! bash scripts/install.sh >"$RUN_DIR/install.log" 2>&1; then
  tail -n 30 "$RUN_DIR/install.log" >&2
  echo "try.sh: installing failed; see $RUN_DIR/install.log" >&2
  exit 1
fi
if [ "$LIST" = 1 ]; then
  list_people
  exit 0
fi

# Each person's Playground config file, made from the directory (the AAD object id in it is how the bot knows
# who is acting); an unknown id stops here, naming those one can be.
if ! ACCOUNTS="$(.venv/bin/python -m bot playground accounts --out "$RUN_DIR" "${DIRECTORY_ARGS[@]}" \
    "${PEOPLE[@]}")"; then
  echo "try.sh: 'bash scripts/try.sh --people' lists who one can be" >&2
  exit 2
fi

# The bot and the Playgrounds run in their own sessions (setsid), so Ctrl-C reaches this script alone and
# it stops them in order instead of each dying on its own.
PIDS=()
stop_all() {
  trap - INT TERM EXIT
  if [ "${#PIDS[@]}" -gt 0 ]; then
    echo
    echo "Stopping..."
    kill -TERM "${PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive=0
      for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.1
    done
    kill -KILL "${PIDS[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
  fi
}
trap 'stop_all; exit 130' INT TERM
trap stop_all EXIT

wait_for() {  # wait_for URL PID LOG WHAT
  for _ in $(seq 1 300); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    if ! kill -0 "$2" 2>/dev/null; then
      echo "try.sh: $4 stopped while starting; its output ($3):" >&2
      tail -n 30 "$3" >&2
      exit 1
    fi
    sleep 0.2
  done
  echo "try.sh: $4 did not start within a minute; see $3" >&2
  exit 1
}

# The Playground prints "Listening on N"; when the asked-for port is taken it picks another one.
playground_port() {  # playground_port LOG
  for _ in $(seq 1 150); do
    port="$(sed -n 's/.*Listening on \([0-9][0-9]*\).*/\1/p' "$1" 2>/dev/null | head -n 1)"
    if [ -n "$port" ]; then echo "$port"; return 0; fi
    sleep 0.2
  done
  return 1
}

start_playground() {  # start_playground DIR PORT  -> sets STARTED_PID and STARTED_URL
  local dir="$1" port="$2"
  mkdir -p "$dir"
  (cd "$dir" && TEAMSAPPTESTER_BROWSER=none M365_AGENTS_PLAYGROUND_LOGFILE="$PWD/m365agentsplayground.log" \
    exec setsid node "$PLAYGROUND_CLI" start -e "http://localhost:$BOT_PORT/api/messages" -c msteams --dt \
      -p "$port") >"$dir/playground.out" 2>&1 &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  local actual
  if ! actual="$(playground_port "$dir/playground.out")"; then
    echo "try.sh: the Playground did not start; its output ($dir/playground.out):" >&2
    tail -n 30 "$dir/playground.out" "$dir/m365agentsplayground.log" >&2 2>/dev/null || true
    exit 1
  fi
  STARTED_URL="http://localhost:$actual"
  wait_for "$STARTED_URL/_internal/v1/config" "$STARTED_PID" "$dir/m365agentsplayground.log" "the Playground"
}

# Emails (for mailboxes such as the QRT business manager, and people Teams cannot reach) go to a local mail
# catcher that writes them to a file, unless SMTP_HOST names a real server.
if [ -z "${SMTP_HOST:-}" ]; then
  MAIL_PORT="${MAIL_PORT:-8025}"
  echo "Starting a local mail catcher on 127.0.0.1:$MAIL_PORT (emails are written to $RUN_DIR/mail.log)..."
  PYTHONUNBUFFERED=1 setsid .venv/bin/python -m aiosmtpd -n -l "127.0.0.1:$MAIL_PORT" \
    -c aiosmtpd.handlers.Debugging >"$RUN_DIR/mail.log" 2>&1 &
  PIDS+=("$!")
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$MAIL_PORT") 2>/dev/null && break
    sleep 0.1
  done
  export SMTP_HOST=127.0.0.1 SMTP_PORT="$MAIL_PORT" SMTP_STARTTLS=false SMTP_FROM=challenge-bot@localhost
fi
# What `challenge-bot tick` needs to act as the running bot does (same database, clock and mail server),
# with absolute paths, so the printed command works from any folder.
{
  echo "DATABASE_URL=$DATABASE_URL"
  echo "TRIAL_CLOCK_FILE=$TRIAL_CLOCK_FILE"
  echo "SMTP_HOST=$SMTP_HOST"
  echo "SMTP_PORT=${SMTP_PORT:-587}"
  echo "SMTP_STARTTLS=${SMTP_STARTTLS:-true}"
  echo "SMTP_FROM=${SMTP_FROM:-}"
} | grep -v '=$' >"$RUN_DIR/env"

echo "Starting the bot on http://127.0.0.1:$BOT_PORT/api/messages (log: $RUN_DIR/bot.log)..."
PORT="$BOT_PORT" PYTHONUNBUFFERED=1 setsid .venv/bin/python -m bot >"$RUN_DIR/bot.log" 2>&1 &
PIDS+=("$!")
wait_for "http://127.0.0.1:$BOT_PORT/readyz" "$!" "$RUN_DIR/bot.log" "the bot"

echo "Starting the Agents Playground, one per person..."
WINDOWS=()
next_port="$PLAYGROUND_PORT"
while IFS=$'\t' read -r id name who; do
  start_playground "$RUN_DIR/$id" "$next_port"
  WINDOWS+=("  Open $STARTED_URL in a browser: you are $name ($id), $who.")
  next_port=$((next_port + 1))
done <<<"$ACCOUNTS"

echo
echo "  Who is who: each address is one person's Teams (a browser window or tab for each)."
printf '%s\n' "${WINDOWS[@]}"
cat <<EOF

  Type "help", "raise", "my challenges" or "show <reference>" in the chat; a partnership's post holder (e.g.
  --as patti, the business manager) can also type "report".
  The monitoring dashboard (local mode, this computer only): http://127.0.0.1:$BOT_PORT/dashboard
  Move the trial's clock forward (reminders, deadlines) from any folder; the bot shares this clock:
      env \$(cat $RUN_DIR/env) $REPO/.venv/bin/challenge-bot tick --advance 1d
  (or --now 2026-12-31T10:00:00+00:00 for an instant; the clock never moves back.)
  Others you can be: bash scripts/try.sh --people
  Emails the bot sends are written to $RUN_DIR/mail.log.
  Everyone in the demo directory is invented: process/directories/demo.yaml.
  Logs: $RUN_DIR/bot.log, $RUN_DIR/<id>/m365agentsplayground.log

  Press Ctrl-C to stop.
EOF

# Stop everything as soon as any of them exits on its own.
set +e
wait -n "${PIDS[@]}"
status=$?
echo "try.sh: a process stopped on its own (exit $status); see $RUN_DIR/bot.log" >&2
exit "$status"
