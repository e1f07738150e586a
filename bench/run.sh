#!/usr/bin/env bash
# Measure AIGNE Hub's own overhead on one Linux machine.
#
# Every scenario runs the same load against several targets, one after the
# other, in a single run:
#   direct  the upstream simulator itself (the baseline)
#   nginx   a bare nginx proxy_pass hop in front of the simulator
#   hub     aigne-hub in front of the simulator (API key auth + usage recording)
#   extra   optionally, another gateway you started yourself (--extra-url ...)
#
#   bash bench/run.sh              # ~10 s measured per target and scenario
#   bash bench/run.sh --quick      # ~3 s measured per target and scenario
#   bash bench/run.sh --help
#
# Results: a Markdown table on stdout, plus bench/results/<timestamp>.md,
# .csv and .log (raw load generator output). See bench/README.md.
set -euo pipefail
export LC_ALL=C

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd)

# ---------------------------------------------------------------- defaults --
DURATION=""
WARMUP=""
QUICK=0
SCENARIO_ARG=default
TARGET_ARG=direct,nginx,hub
BUILD=1
PIN=auto
TARGET_CPU=0
LOAD_CPU=1
WRK_THREADS=1
MAX_TOKENS=16
SIM_PORT=""
SIM_KEY="sk-bench-upstream"
OUT_DIR="$SCRIPT_DIR/results"
EXTRA_URL=""
EXTRA_KEY=""
EXTRA_MODEL=""
EXTRA_NAME="extra"
HUB_FEATURES=all
EXTRA_PIDS=""
READY_TIMEOUT=30
WITH_LITELLM=0
OPEN_RATE=1000
OPEN_CONNS=64
STREAMS=1000
STREAM_TOKENS=100
STREAM_INTERVAL_MS=100
SOAK_SECONDS=""
SOAK_SAMPLE_SECS=5
SCALE_KEYS=""
SCALE_USAGE=""

DEFAULT_HUB_BIN="$REPO_DIR/target/release/aigne-hub"
DEFAULT_SIM_BIN="$REPO_DIR/target/release/upstream-sim"
HUB_BIN=${AIGNE_HUB_BIN:-$DEFAULT_HUB_BIN}
SIM_BIN=${UPSTREAM_SIM_BIN:-$DEFAULT_SIM_BIN}
NGINX_BIN=${NGINX_BIN:-nginx}
WRK_BIN=${WRK_BIN:-wrk}
# Tools the script installs itself live under bench/.tools (not tracked by git).
TOOLS_DIR="$SCRIPT_DIR/.tools"
OHA_VERSION=1.16.0
OHA_BIN=${OHA_BIN:-}
# LiteLLM for --with-litellm: one exact release, and the SHA-256 of its wheel for Linux x86_64
# (the only file accepted unless LITELLM_WHEEL_SHA256 names another).
LITELLM_VERSION=1.108.5
LITELLM_WHEEL_SHA256=${LITELLM_WHEEL_SHA256:-1b99ab7d3759588e6a943f5c7b6801e851b7f16be3a7fb137341e76546f91ded}
LITELLM_KEY="sk-litellm-bench"

# Model names as each target expects them.
DIRECT_MODEL="gpt-4o-mini"
HUB_MODEL="openai/gpt-4o-mini"

# ---------------------------------------------------------------- scenarios --
# To add a scenario: give it a name here and a case in define_scenario.
DEFAULT_SCENARIOS=(c1 c64 c64-stream slow-upstream)
ALL_SCENARIOS=(c1 c64 c64-stream slow-upstream mixed open-loop streams-1000 soak scale-keys scale-usage)

# Sets SC_CONNS, SC_STREAM, SC_MIX, SC_SIM_ARGS, SC_KIND, SC_ONLY and SC_DESC for scenario $1.
# SC_KIND is how the load is made and measured: wrk (closed loop, the default), open-loop (oha at
# a fixed rate), streams (many open streams, RSS sampled), soak (long wrk run, RSS sampled),
# scale-keys or scale-usage (the hub before and after its database grows). SC_ONLY, when set,
# lists the only targets the scenario runs against.
define_scenario() {
  SC_CONNS=64
  SC_STREAM=0
  SC_MIX=0
  SC_SIM_ARGS=()
  SC_KIND=wrk
  SC_ONLY=""
  case $1 in
    c1)
      SC_CONNS=1
      SC_DESC="1 connection, non-streamed: added latency per request" ;;
    c64)
      SC_DESC="64 connections, non-streamed: CPU time per request" ;;
    c64-stream)
      SC_STREAM=1
      SC_DESC="64 connections, streamed (SSE)" ;;
    slow-upstream)
      SC_STREAM=1
      SC_SIM_ARGS=(--latency-ms 50 --chunk-interval-ms 10)
      SC_DESC="64 connections, streamed, upstream answers after 50 ms and sends a chunk every 10 ms" ;;
    mixed)
      SC_MIX=1
      SC_DESC="64 connections, repeating mix of 20 shapes: prompts of 1-4 KB, answers of 20-200 tokens, 30% streamed" ;;
    open-loop)
      SC_KIND=open-loop
      SC_CONNS=$OPEN_CONNS
      SC_DESC="fixed arrival rate of $OPEN_RATE requests/s (oha, up to $OPEN_CONNS connections), non-streamed; latency measured from each request's scheduled send time" ;;
    streams-1000)
      SC_KIND=streams
      SC_CONNS=$STREAMS
      SC_STREAM=1
      SC_SIM_ARGS=(--chunk-interval-ms "$STREAM_INTERVAL_MS")
      SC_DESC="$STREAMS streams open at once, $STREAM_TOKENS tokens each at one chunk per $STREAM_INTERVAL_MS ms (each open ~$((STREAM_TOKENS * STREAM_INTERVAL_MS / 1000)) s); RSS sampled" ;;
    soak)
      SC_KIND=soak
      SC_MIX=1
      SC_ONLY="nginx,hub"
      SC_DESC="${SOAK_SECONDS:-?} s of 64 connections with the mixed load (30% streamed); RSS sampled every ${SOAK_SAMPLE_SECS} s" ;;
    scale-keys)
      SC_KIND=scale-keys
      SC_ONLY="hub"
      SC_DESC="64 connections, non-streamed, against the hub with 1 key, then with ${SCALE_KEYS:-?} more keys in its database" ;;
    scale-usage)
      SC_KIND=scale-usage
      SC_ONLY="hub"
      SC_DESC="64 connections, non-streamed, against the hub with an empty usage table, then with about ${SCALE_USAGE:-?} usage records" ;;
    *)
      return 1 ;;
  esac
}

usage() {
  cat <<EOF
Usage: bash bench/run.sh [options]

Measures requests/s, p50/p90/p99 latency, latency added over a direct
connection to the upstream simulator, CPU time per request and peak RSS for
each target: direct, nginx, hub (and an optional extra gateway).

Options:
  --quick                 measure ~3 s per target and scenario (default ~10 s)
  --duration SECS         measured window per target and scenario (default 10)
  --warmup SECS           warm-up before each measured window (default 2, 1 with --quick)
  --scenario NAMES        comma-separated: $(IFS=,; echo "${ALL_SCENARIOS[*]}"), default or all
                          (default: $(IFS=,; echo "${DEFAULT_SCENARIOS[*]}"))
  --targets NAMES         comma-separated subset of direct,nginx,hub (default: all three;
                          the extra gateway is added when --extra-url is given)
  --max-tokens N          tokens per answer (default 16)
  --no-build              do not run cargo build; use the binaries as they are
  --no-pin                do not pin processes to CPUs
  --target-cpu LIST       CPUs for the target under test (default 0)
  --load-cpu LIST         CPUs for the simulator and wrk (default 1)
  --wrk-threads N         wrk threads (default 1)
  --sim-port PORT         fixed port for the upstream simulator (default: a free port;
                          required with --extra-url, so the extra gateway can reach it)
  --sim-key KEY           API key the simulator requires (default sk-bench-upstream)
  --out DIR               where to write results (default bench/results)
  --extra-url URL         another OpenAI-compatible gateway to measure, already running
                          and forwarding to http://127.0.0.1:<sim-port>/v1
  --extra-key KEY         its bearer token
  --extra-model MODEL     the model name it expects (maps to the simulator)
  --extra-name NAME       label in the results (default: extra)
  --hub-features all|basic
                          all (default): credit billing on and a key with a model scope,
                          rate, token and concurrency limits and a budget; basic: a plain key
                          (authentication and usage recording only)
  --extra-pid PIDS        comma-separated PIDs of its processes (children included), for
                          CPU time and RSS; without it those columns stay empty
  --with-litellm          install LiteLLM $LITELLM_VERSION into bench/.tools/litellm-venv (once),
                          start it (one worker, master key, no database) in front of the
                          simulator and measure it as the extra target "litellm"
  --open-loop-rate N      requests/s of the open-loop scenario (default 1000)
  --streams N             streams held open in streams-1000 (default 1000)
  --soak-seconds N        length of the soak per target (default 600, 60 with --quick)
  --scale-keys N          keys added in scale-keys (default 100000, 10000 with --quick)
  --scale-usage N         usage records in scale-usage (default 1000000, 200000 with --quick)
  -h, --help              this help

Environment:
  AIGNE_HUB_BIN, UPSTREAM_SIM_BIN  binaries to use (default: target/release/...;
                                   cargo build is skipped for a binary given here)
  NGINX_BIN, WRK_BIN               nginx and wrk executables (default: from PATH)
  OHA_BIN                          oha for open-loop (default: from PATH, else installed with
                                   cargo install oha --locked --version $OHA_VERSION into
                                   bench/.tools/oha)
EOF
}

# ---------------------------------------------------------------- utilities --
say() { printf '%s\n' "$*" >&2; }
die() {
  say "error: $*"
  exit 1
}
need_value() {
  if [[ $# -lt 2 || -z $2 ]]; then
    die "option $1 needs a value (see --help)"
  fi
}
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1 ;;
    --duration) need_value "$@"; DURATION=$2; shift ;;
    --warmup) need_value "$@"; WARMUP=$2; shift ;;
    --scenario | --scenarios) need_value "$@"; SCENARIO_ARG=$2; shift ;;
    --targets | --target) need_value "$@"; TARGET_ARG=$2; shift ;;
    --max-tokens) need_value "$@"; MAX_TOKENS=$2; shift ;;
    --no-build) BUILD=0 ;;
    --no-pin) PIN=off ;;
    --target-cpu) need_value "$@"; TARGET_CPU=$2; shift ;;
    --load-cpu) need_value "$@"; LOAD_CPU=$2; shift ;;
    --wrk-threads) need_value "$@"; WRK_THREADS=$2; shift ;;
    --sim-port) need_value "$@"; SIM_PORT=$2; shift ;;
    --sim-key) need_value "$@"; SIM_KEY=$2; shift ;;
    --out) need_value "$@"; OUT_DIR=$2; shift ;;
    --extra-url) need_value "$@"; EXTRA_URL=$2; shift ;;
    --extra-key) need_value "$@"; EXTRA_KEY=$2; shift ;;
    --extra-model) need_value "$@"; EXTRA_MODEL=$2; shift ;;
    --extra-name) need_value "$@"; EXTRA_NAME=$2; shift ;;
    --extra-pid | --extra-pids) need_value "$@"; EXTRA_PIDS=$2; shift ;;
    --hub-features) need_value "$@"; HUB_FEATURES=$2; shift
      [[ $HUB_FEATURES == all || $HUB_FEATURES == basic ]] || die "--hub-features is 'all' or 'basic'" ;;
    --with-litellm) WITH_LITELLM=1 ;;
    --open-loop-rate) need_value "$@"; OPEN_RATE=$2; shift ;;
    --streams) need_value "$@"; STREAMS=$2; shift ;;
    --soak-seconds) need_value "$@"; SOAK_SECONDS=$2; shift ;;
    --scale-keys) need_value "$@"; SCALE_KEYS=$2; shift ;;
    --scale-usage) need_value "$@"; SCALE_USAGE=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done
# --quick only changes what was not given explicitly.
if [[ $QUICK == 1 ]]; then
  DURATION=${DURATION:-3}
  WARMUP=${WARMUP:-1}
  SOAK_SECONDS=${SOAK_SECONDS:-60}
  SCALE_KEYS=${SCALE_KEYS:-10000}
  SCALE_USAGE=${SCALE_USAGE:-200000}
fi
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SOAK_SECONDS=${SOAK_SECONDS:-600}
SCALE_KEYS=${SCALE_KEYS:-100000}
SCALE_USAGE=${SCALE_USAGE:-1000000}

for v in DURATION WARMUP MAX_TOKENS WRK_THREADS OPEN_RATE STREAMS SOAK_SECONDS SCALE_KEYS SCALE_USAGE; do
  is_uint "${!v}" || die "${v,,} must be a whole number, got '${!v}'"
done
[[ $DURATION -ge 1 ]] || die "--duration must be at least 1"
[[ $WRK_THREADS -ge 1 ]] || die "--wrk-threads must be at least 1"
[[ $OPEN_RATE -ge 1 && $STREAMS -ge 1 && $SCALE_KEYS -ge 1 && $SCALE_USAGE -ge 1 ]] ||
  die "--open-loop-rate, --streams, --scale-keys and --scale-usage must be at least 1"
[[ $SOAK_SECONDS -ge $((2 * SOAK_SAMPLE_SECS)) ]] || die "--soak-seconds must be at least $((2 * SOAK_SAMPLE_SECS))"
if [[ $WITH_LITELLM == 1 && -n $EXTRA_URL ]]; then
  die "--with-litellm starts its own extra target; do not combine it with --extra-url"
fi
if [[ -n $SIM_PORT ]]; then
  is_uint "$SIM_PORT" || die "--sim-port must be a port number"
fi

# Scenarios.
SCENARIOS=()
IFS=',' read -r -a _req <<<"$SCENARIO_ARG"
for s in "${_req[@]}"; do
  case $s in
    default) SCENARIOS+=("${DEFAULT_SCENARIOS[@]}") ;;
    all) SCENARIOS+=("${ALL_SCENARIOS[@]}") ;;
    "") ;;
    *)
      define_scenario "$s" || die "unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
      SCENARIOS+=("$s") ;;
  esac
done
[[ ${#SCENARIOS[@]} -gt 0 ]] || die "no scenario selected"

# Targets, always in the order direct, nginx, hub, extra.
declare -A WANT=()
IFS=',' read -r -a _req <<<"$TARGET_ARG"
for t in "${_req[@]}"; do
  case $t in
    direct | nginx | hub) WANT[$t]=1 ;;
    "") ;;
    *) die "unknown target '$t' (known: direct, nginx, hub; use --extra-url for others)" ;;
  esac
done
TARGETS=()
for t in direct nginx hub; do
  if [[ -n ${WANT[$t]:-} ]]; then TARGETS+=("$t"); fi
done
if [[ -n $EXTRA_URL ]]; then
  [[ -n $EXTRA_MODEL ]] || die "--extra-url needs --extra-model"
  [[ -n $SIM_PORT ]] || die "--extra-url needs --sim-port: the extra gateway must be configured to forward to http://127.0.0.1:<sim-port>/v1"
  case $EXTRA_NAME in
    direct | nginx | hub | "" | *[!A-Za-z0-9._-]*) die "--extra-name must be a simple name other than direct, nginx or hub" ;;
  esac
  if [[ $EXTRA_URL != */chat/completions ]]; then
    EXTRA_URL="${EXTRA_URL%/}"
    if [[ $EXTRA_URL == */v1 ]]; then
      EXTRA_URL="$EXTRA_URL/chat/completions"
    else
      EXTRA_URL="$EXTRA_URL/v1/chat/completions"
    fi
  fi
  TARGETS+=("$EXTRA_NAME")
fi
[[ ${#TARGETS[@]} -gt 0 ]] || die "no target selected"
has_target() {
  local t
  for t in "${TARGETS[@]}"; do
    if [[ $t == "$1" ]]; then return 0; fi
  done
  return 1
}

[[ ${BASH_VERSINFO[0]} -gt 4 || (${BASH_VERSINFO[0]} -eq 4 && ${BASH_VERSINFO[1]} -ge 4) ]] ||
  die "bash 4.4 or newer is needed"
[[ $(uname -s) == Linux ]] || die "this benchmark reads /proc and runs on Linux only"

# ------------------------------------------------------------- dependencies --
missing_pkgs=()
command -v "$WRK_BIN" >/dev/null 2>&1 || missing_pkgs+=(wrk)
if has_target nginx; then
  command -v "$NGINX_BIN" >/dev/null 2>&1 || missing_pkgs+=(nginx-light)
fi
command -v curl >/dev/null 2>&1 || missing_pkgs+=(curl)
if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing_pkgs[*]} with apt-get ..."
    if ! apt-get install -y "${missing_pkgs[@]}" >&2; then
      apt-get update >&2
      # Newer Debian releases fold nginx-light into nginx.
      apt-get install -y "${missing_pkgs[@]}" >&2 ||
        apt-get install -y "${missing_pkgs[@]/nginx-light/nginx}" >&2 ||
        die "could not install ${missing_pkgs[*]}"
    fi
  else
    die "missing tools: ${missing_pkgs[*]}. On Debian/Ubuntu: sudo apt-get install -y ${missing_pkgs[*]}"
  fi
fi
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# What the selected scenarios need beyond wrk.
NEED_PYTHON=$WITH_LITELLM
NEED_OHA=0
NEED_FDS=0
for sc in "${SCENARIOS[@]}"; do
  define_scenario "$sc"
  case $SC_KIND in
    open-loop) NEED_OHA=1; NEED_PYTHON=1 ;;
    streams) NEED_PYTHON=1; NEED_FDS=$((2 * STREAMS + 512)) ;;
    scale-keys) NEED_PYTHON=1 ;;
  esac
done
if [[ $NEED_PYTHON == 1 ]] && ! command -v python3 >/dev/null 2>&1; then
  die "python3 is needed for open-loop, streams-1000, scale-keys and --with-litellm (Debian/Ubuntu: sudo apt-get install -y python3)"
fi
if [[ $NEED_FDS -gt 0 && $(ulimit -n) != unlimited && $(ulimit -n) -lt $NEED_FDS ]]; then
  # Each stream is a client socket and, through a proxy, an upstream socket too.
  _hard=$(ulimit -Hn)
  if [[ $_hard == unlimited || $_hard -ge $NEED_FDS ]]; then
    ulimit -n "$NEED_FDS"
  else
    die "$STREAMS streams need about $NEED_FDS open files; the hard limit is $_hard (raise it, e.g. in /etc/security/limits.conf, or use --streams)"
  fi
fi
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)

# -------------------------------------------------------------------- build --
build_pkgs=()
if [[ $SIM_BIN == "$DEFAULT_SIM_BIN" ]]; then build_pkgs+=(-p upstream-sim); fi
if has_target hub && [[ $HUB_BIN == "$DEFAULT_HUB_BIN" ]]; then build_pkgs+=(-p aigne-hub); fi
if [[ $BUILD == 1 && ${#build_pkgs[@]} -gt 0 ]]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust or pass --no-build with AIGNE_HUB_BIN/UPSTREAM_SIM_BIN"
  say "building: cargo build --release ${build_pkgs[*]}"
  (cd "$REPO_DIR" && cargo build --release "${build_pkgs[@]}" >&2) || die "cargo build failed"
fi
[[ -x $SIM_BIN ]] || die "upstream simulator not found at $SIM_BIN (build it: cargo build --release -p upstream-sim)"
if has_target hub; then
  [[ -x $HUB_BIN ]] || die "aigne-hub not found at $HUB_BIN (build it: cargo build --release -p aigne-hub)"
fi

# --------------------------------------------------------------- pinning --
PIN_TARGET=()
PIN_LOAD=()
PINNED=0
if [[ $PIN != off ]]; then
  if command -v taskset >/dev/null 2>&1 && [[ $NCPU -ge 2 ]]; then
    PIN_TARGET=(taskset -c "$TARGET_CPU")
    PIN_LOAD=(taskset -c "$LOAD_CPU")
    PINNED=1
    # Fail early on CPU lists this machine does not have.
    taskset -c "$TARGET_CPU" true 2>/dev/null || die "cannot pin to CPU(s) '$TARGET_CPU'"
    taskset -c "$LOAD_CPU" true 2>/dev/null || die "cannot pin to CPU(s) '$LOAD_CPU'"
  else
    say "note: not pinning (needs taskset and at least 2 CPUs); numbers will be noisier"
  fi
fi
repin() { # repin PID CPU-LIST: move a running process (all threads) to CPUs
  if [[ $PINNED == 1 ]]; then
    taskset -a -p -c "$2" "$1" >/dev/null || die "could not pin process $1 to CPU(s) $2"
  fi
}

# ------------------------------------------------------- process handling --
TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/aigne-hub-bench.XXXXXX")
declare -A LIVE=() # PID -> label, every process this script started and has not reaped
LAST_PID=""

# start_bg LABEL LOG CMD...: start CMD in the background, remember its PID.
start_bg() {
  local label=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 </dev/null &
  LAST_PID=$!
  LIVE[$LAST_PID]=$label
}

# alive PID: true while PID runs (a zombie waiting to be reaped counts as gone).
alive() {
  local line
  [[ -r /proc/$1/stat ]] || return 1
  read -r line 2>/dev/null </proc/"$1"/stat || return 1
  line=${line##*) }
  [[ ${line:0:1} != Z ]]
}

# stop_pid PID [SECONDS]: SIGTERM, wait, SIGKILL if needed; sets STOP_RC.
STOP_RC=0
stop_pid() {
  local pid=$1 limit=$((${2:-10} * 10)) i=0
  STOP_RC=0
  [[ -n ${LIVE[$pid]:-} ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && [[ $i -lt $limit ]]; do
    sleep 0.1
    i=$((i + 1))
  done
  if alive "$pid"; then
    say "warning: ${LIVE[$pid]} (pid $pid) did not stop after SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || STOP_RC=$?
  unset "LIVE[$pid]"
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${!LIVE[@]}"; do
    stop_pid "$pid" 5 || true
  done
  rm -rf -- "$TMP_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

log_tail() { # log_tail FILE: show the end of a log on stderr
  if [[ -s $1 ]]; then
    say "---- last lines of $(basename "$1") ----"
    tail -n 20 "$1" >&2 || true
    say "----"
  fi
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port tries=0
  while [[ $tries -lt 200 ]]; do
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if ! port_open "$port"; then
      echo "$port"
      return
    fi
    tries=$((tries + 1))
  done
  die "could not find a free port"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ready PID LOG KIND ADDR: wait until the process answers.
# KIND is "port" (TCP connect succeeds) or "healthz" (GET /healthz returns 200).
wait_ready() {
  local pid=$1 log=$2 kind=$3 port=$4 i=0 limit=$((READY_TIMEOUT * 10))
  while [[ $i -lt $limit ]]; do
    if ! alive "$pid"; then
      log_tail "$log"
      die "${LIVE[$pid]:-process $pid} exited during startup"
    fi
    if [[ $kind == healthz ]]; then
      if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null; then return 0; fi
    elif port_open "$port"; then
      return 0
    fi
    sleep 0.1
    i=$((i + 1))
  done
  log_tail "$log"
  die "${LIVE[$pid]:-process $pid} not ready on port $port after ${READY_TIMEOUT}s"
}

# pid_tree PID...: the PIDs and all their descendants, one per line.
pid_tree() {
  local pid child
  for pid in "$@"; do
    echo "$pid"
    if command -v pgrep >/dev/null 2>&1; then
      for child in $(pgrep -P "$pid" || true); do
        pid_tree "$child"
      done
    fi
  done
}

# cpu_ticks PID...: summed utime+stime (clock ticks) of the processes, all threads.
cpu_ticks() {
  local pid line total=0
  local -a f
  for pid in "$@"; do
    read -r line 2>/dev/null </proc/"$pid"/stat || continue
    line=${line##*) }
    read -r -a f <<<"$line"
    # After the command name: f[0] is field 3 (state); utime is field 14, stime 15.
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# peak_rss_kb PID...: summed VmHWM (kB).
peak_rss_kb() {
  local pid total=0 kb
  for pid in "$@"; do
    kb=$(awk '/^VmHWM:/ { print $2 }' /proc/"$pid"/status 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# reset_peak_rss PID...: restart the VmHWM high-water mark (Linux >= 4.0).
reset_peak_rss() {
  local pid
  for pid in "$@"; do
    { echo 5 >/proc/"$pid"/clear_refs; } 2>/dev/null || true
  done
}

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# ----------------------------------------------------------------- requests --
request_body() { # request_body MODEL STREAM(0|1)
  local stream=""
  if [[ $2 == 1 ]]; then stream=',"stream":true'; fi
  printf '{"model":"%s","messages":[{"role":"user","content":"Hello!"}],"max_tokens":%d%s}' "$1" "$MAX_TOKENS" "$stream"
}

# smoke_check LABEL URL KEY MODEL: one request per shape the scenario sends;
# fails with the response when it is not a successful completion.
smoke_check() {
  local label=$1 url=$2 key=$3 model=$4 stream code out="$TMP_DIR/smoke.out"
  local -a streams=("$SC_STREAM")
  if [[ $SC_MIX == 1 ]]; then streams=(0 1); fi
  for stream in "${streams[@]}"; do
    for _ in 1 2 3; do
      : >"$out"
      code=$(curl -sS -N --max-time 15 -o "$out" -w '%{http_code}' \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $key" \
        --data-binary "$(request_body "$model" "$stream")" "$url" 2>"$TMP_DIR/smoke.err" || true)
      if [[ $code == 200 ]]; then
        if [[ $stream == 1 ]] && grep -q '^data:' "$out" && grep -q '\[DONE\]' "$out"; then return 0; fi
        if [[ $stream == 0 ]] && grep -q '"choices"' "$out"; then return 0; fi
      fi
      sleep 1
    done
    say "error: $label did not answer a test request (stream=$stream) with a completion"
    say "  POST $url -> HTTP ${code:-none}"
    if [[ -s $TMP_DIR/smoke.err ]]; then sed 's/^/  /' "$TMP_DIR/smoke.err" >&2; fi
    if [[ -s $out ]]; then head -c 600 "$out" | sed 's/^/  /' >&2; echo >&2; fi
    return 1
  done
}

# run_wrk OUT SECONDS URL KEY MODEL: one wrk run with the current scenario.
run_wrk() {
  wrk_cmd "$2" "$3" "$4" "$5"
  "${WRK_CMD[@]}" >"$1" 2>&1
}
# wrk_cmd SECONDS URL KEY MODEL: sets WRK_CMD to that wrk run with the current scenario.
wrk_cmd() {
  local secs=$1 url=$2 key=$3 model=$4 threads=$WRK_THREADS
  if [[ $threads -gt $SC_CONNS ]]; then threads=$SC_CONNS; fi
  WRK_CMD=(env BENCH_KEY="$key" BENCH_MODEL="$model" BENCH_MAX_TOKENS="$MAX_TOKENS"
    BENCH_STREAM="$SC_STREAM" BENCH_MIX="$SC_MIX"
    "${PIN_LOAD[@]}" "$WRK_BIN" -t"$threads" -c"$SC_CONNS" -d"${secs}s" --timeout 10s
    --latency -s "$SCRIPT_DIR/wrk.lua" "$url")
}

# ------------------------------------------------------------------ targets --
SIM_PID=""
SIM_LOG=""
start_sim() { # start_sim SCENARIO
  local -a threads=()
  if [[ $PINNED == 1 ]]; then threads=(--worker-threads 1); fi
  SIM_LOG="$TMP_DIR/upstream-sim-$1.log"
  start_bg "upstream-sim" "$SIM_LOG" "${PIN_LOAD[@]}" "$SIM_BIN" --listen "127.0.0.1:$SIM_PORT" \
    --api-key "$SIM_KEY" "${threads[@]}" "${SC_SIM_ARGS[@]}"
  SIM_PID=$LAST_PID
  wait_ready "$SIM_PID" "$SIM_LOG" port "$SIM_PORT"
}
stop_sim() {
  if [[ -n $SIM_PID ]]; then stop_pid "$SIM_PID" 10; fi
  SIM_PID=""
}

NGINX_PID=""
NGINX_PORT=""
start_nginx() {
  local prefix="$TMP_DIR/nginx" conf
  mkdir -p "$prefix/tmp"
  NGINX_PORT=$(free_port)
  conf="$prefix/nginx.conf"
  cat >"$conf" <<EOF
worker_processes 1;
error_log $prefix/error.log warn;
pid $prefix/nginx.pid;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path $prefix/tmp/client_body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    upstream sim {
        server 127.0.0.1:$SIM_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://sim;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
  start_bg "nginx" "$prefix/stderr.log" "${PIN_TARGET[@]}" "$NGINX_BIN" \
    -e "$prefix/error.log" -p "$prefix" -c "$conf" -g 'daemon off;'
  NGINX_PID=$LAST_PID
  wait_ready "$NGINX_PID" "$prefix/error.log" port "$NGINX_PORT"
}
stop_nginx() {
  if [[ -n $NGINX_PID ]]; then stop_pid "$NGINX_PID" 10; fi
  NGINX_PID=""
}

HUB_DATA="$TMP_DIR/hub-data"
HUB_CLEAN="$TMP_DIR/hub-data-clean"
# The hub falls back to provider settings from the environment; keep a
# developer's real OpenAI settings out of the benchmark.
HUB_CMD=(env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u AIGNE_HUB_DATA_DIR -u AIGNE_HUB_LISTEN "$HUB_BIN")
HUB_KEY=""
HUB_PID=""
HUB_PORT=""
HUB_LOG=""
setup_hub() {
  local out="$TMP_DIR/hub-setup.log" json
  mkdir -p "$HUB_DATA"
  say "setting up aigne-hub in a fresh data directory"
  printf '%s' "bench-admin-password-$RANDOM$RANDOM" |
    "${HUB_CMD[@]}" admin create --email bench@example.com --password-stdin --data-dir "$HUB_DATA" >"$out" 2>&1 ||
    { log_tail "$out"; die "aigne-hub admin create failed"; }
  printf '%s' "$SIM_KEY" |
    "${HUB_CMD[@]}" provider add openai --base-url "http://127.0.0.1:$SIM_PORT/v1" --api-key-stdin \
      --data-dir "$HUB_DATA" >>"$out" 2>&1 ||
    { log_tail "$out"; die "aigne-hub provider add failed"; }
  # Every per-call feature on, as a careful production setup would have it: credit billing with
  # a balance to reserve against, and a key with a model scope, request, token and concurrency
  # limits and a budget, all far above what the benchmark uses so nothing is refused.
  # `--hub-features basic` leaves all of it off: authentication and usage recording only.
  local key_opts=()
  if [[ $HUB_FEATURES == all ]]; then
    "${HUB_CMD[@]}" billing enable --data-dir "$HUB_DATA" >>"$out" 2>&1 ||
      { log_tail "$out"; die "aigne-hub billing enable failed"; }
    "${HUB_CMD[@]}" credit grant bench@example.com 1000000000 --data-dir "$HUB_DATA" >>"$out" 2>&1 ||
      { log_tail "$out"; die "aigne-hub credit grant failed"; }
    key_opts=(--models 'openai/*' --rpm 4000000000 --tpm 1000000000000 --max-concurrency 100000
      --budget 1000000000 --budget-period total)
  fi
  json=$("${HUB_CMD[@]}" key create --name bench --json --data-dir "$HUB_DATA" "${key_opts[@]}" 2>>"$out") ||
    { log_tail "$out"; die "aigne-hub key create failed"; }
  HUB_KEY=$(printf '%s' "$json" | sed -n 's/.*"key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
  [[ -n $HUB_KEY ]] || die "could not read the key from 'aigne-hub key create --json' output: $json"
  # The scale scenarios start from this state: one key, no usage yet.
  cp -a "$HUB_DATA" "$HUB_CLEAN"
}
start_hub() { # start_hub SCENARIO [DATA_DIR]
  HUB_PORT=$(free_port)
  HUB_LOG="$TMP_DIR/aigne-hub-$1.log"
  start_bg "aigne-hub" "$HUB_LOG" "${PIN_TARGET[@]}" "${HUB_CMD[@]}" serve --data-dir "${2:-$HUB_DATA}" \
    --listen "127.0.0.1:$HUB_PORT"
  HUB_PID=$LAST_PID
  wait_ready "$HUB_PID" "$HUB_LOG" healthz "$HUB_PORT"
}
# check_usage_recorded: after the hub has served traffic and stopped, its
# ledger must hold usage records; otherwise the hub measured did less work
# than in production.
USAGE_CHECKED=0
check_usage_recorded() {
  local out
  if [[ $USAGE_CHECKED == 1 ]]; then return 0; fi
  USAGE_CHECKED=1
  out=$("${HUB_CMD[@]}" usage list --json --limit 1 --data-dir "$HUB_DATA" 2>&1) || true
  if [[ $out != *'"'* ]]; then
    WARNINGS+=("aigne-hub recorded no usage for the requests it served ('aigne-hub usage list' printed: ${out:-nothing})")
    say "  warning: ${WARNINGS[-1]}"
  fi
}
stop_hub() {
  if [[ -z $HUB_PID ]]; then return 0; fi
  stop_pid "$HUB_PID" 15
  if [[ $STOP_RC != 0 ]]; then
    log_tail "$HUB_LOG"
    say "warning: aigne-hub exited with status $STOP_RC after SIGTERM (expected 0)"
  fi
  HUB_PID=""
}

# -------------------------------------------------------- optional tools --
# ensure_oha: sets OHA_BIN, installing oha with cargo into bench/.tools/oha if it is not there;
# when that is impossible leaves OHA_BIN empty and the reason in OHA_MISSING.
OHA_MISSING=""
ensure_oha() {
  if [[ -n $OHA_BIN ]]; then
    [[ -x $OHA_BIN ]] || die "OHA_BIN=$OHA_BIN is not an executable"
    return 0
  fi
  if [[ -x $TOOLS_DIR/oha/bin/oha ]]; then
    OHA_BIN="$TOOLS_DIR/oha/bin/oha"
  elif command -v oha >/dev/null 2>&1; then
    OHA_BIN=$(command -v oha)
  elif ! command -v cargo >/dev/null 2>&1; then
    OHA_MISSING="oha is not installed and cargo is not there to install it"
  else
    say "installing oha $OHA_VERSION (cargo install --locked, into $TOOLS_DIR/oha; takes several minutes once) ..."
    mkdir -p "$TOOLS_DIR"
    if cargo install oha --locked --version "$OHA_VERSION" --root "$TOOLS_DIR/oha" >"$TOOLS_DIR/oha-install.log" 2>&1; then
      OHA_BIN="$TOOLS_DIR/oha/bin/oha"
    else
      tail -n 5 "$TOOLS_DIR/oha-install.log" >&2 || true
      OHA_MISSING="oha $OHA_VERSION could not be installed with cargo (see $TOOLS_DIR/oha-install.log)"
    fi
  fi
  if [[ -n $OHA_MISSING ]]; then
    say "warning: $OHA_MISSING; the open-loop scenario will be skipped"
  else
    say "open-loop load: $("$OHA_BIN" --version 2>/dev/null | head -n 1)"
  fi
}

LITELLM_VENV="$TOOLS_DIR/litellm-venv"
# install_litellm: LiteLLM $LITELLM_VERSION with its proxy extras in bench/.tools/litellm-venv,
# from a wheel whose SHA-256 is checked first. Dependencies come from PyPI as pip resolves them.
install_litellm() {
  local py="$LITELLM_VENV/bin/python" have dl="$TOOLS_DIR/litellm-dl" wheel sum
  have=$("$py" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)
  if [[ $have == "$LITELLM_VERSION" ]]; then return 0; fi
  command -v python3 >/dev/null 2>&1 || die "--with-litellm needs python3 (with the venv module)"
  say "installing LiteLLM $LITELLM_VERSION into $LITELLM_VENV (once) ..."
  rm -rf -- "$LITELLM_VENV" "$dl"
  mkdir -p "$dl"
  python3 -m venv "$LITELLM_VENV" || die "could not create a virtual environment in $LITELLM_VENV"
  "$LITELLM_VENV/bin/pip" download --disable-pip-version-check -q --no-deps -d "$dl" \
    "litellm==$LITELLM_VERSION" >&2 || die "could not download LiteLLM $LITELLM_VERSION from PyPI"
  wheel=$(find "$dl" -name "litellm-$LITELLM_VERSION-*.whl" | head -n 1)
  [[ -n $wheel ]] || die "PyPI offered no wheel of LiteLLM $LITELLM_VERSION for this machine"
  sum=$(sha256sum "$wheel" | awk '{ print $1 }')
  if [[ $sum != "$LITELLM_WHEEL_SHA256" ]]; then
    die "$(basename "$wheel") has SHA-256 $sum, not the pinned $LITELLM_WHEEL_SHA256; not installing it. After checking that file, set LITELLM_WHEEL_SHA256=$sum"
  fi
  # The compromised releases shipped a .pth file that runs at every Python start.
  "$py" -c 'import sys, zipfile; sys.exit(any(n.endswith(".pth") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' "$wheel" ||
    die "$(basename "$wheel") contains a .pth file; not installing it"
  "$LITELLM_VENV/bin/pip" install --disable-pip-version-check -q "$wheel[proxy]" >&2 ||
    die "could not install LiteLLM $LITELLM_VERSION with its proxy extras (pip failed; see above)"
  if [[ -n $(find "$LITELLM_VENV" -name '*litellm*.pth' | head -n 1) ]]; then
    die "the LiteLLM installation left a litellm .pth file in $LITELLM_VENV; remove that directory"
  fi
  rm -rf -- "$dl"
}

# start_litellm: LiteLLM with one worker, a master key and no database, forwarding to the
# simulator's port; registered as the extra target.
LITELLM_PID=""
start_litellm() {
  local port conf="$TMP_DIR/litellm.yaml" log="$TMP_DIR/litellm.log" saved=$READY_TIMEOUT
  port=$(free_port)
  cat >"$conf" <<YAML
model_list:
  - model_name: $DIRECT_MODEL
    litellm_params:
      model: openai/$DIRECT_MODEL
      api_base: http://127.0.0.1:$SIM_PORT/v1
      api_key: $SIM_KEY
general_settings:
  master_key: $LITELLM_KEY
YAML
  mkdir -p "$TMP_DIR/litellm-home"
  say "starting LiteLLM $LITELLM_VERSION on port $port"
  # A clean environment: no credentials of the user's, and the bundled model price list instead
  # of a download at start.
  start_bg "litellm" "$log" "${PIN_TARGET[@]}" env -i PATH="$LITELLM_VENV/bin:/usr/bin:/bin" \
    HOME="$TMP_DIR/litellm-home" LITELLM_LOCAL_MODEL_COST_MAP=True \
    "$LITELLM_VENV/bin/litellm" --config "$conf" --host 127.0.0.1 --port "$port" --num_workers 1
  LITELLM_PID=$LAST_PID
  READY_TIMEOUT=180
  wait_ready "$LITELLM_PID" "$log" port "$port"
  READY_TIMEOUT=$saved
  EXTRA_NAME=litellm
  EXTRA_URL="http://127.0.0.1:$port/v1/chat/completions"
  EXTRA_KEY=$LITELLM_KEY
  EXTRA_MODEL=$DIRECT_MODEL
  EXTRA_PIDS=$LITELLM_PID
  TARGETS+=(litellm)
}

# ------------------------------------------------------ other load shapes --
# rss_now_kb PID...: summed VmRSS (kB) right now.
rss_now_kb() {
  local pid total=0 kb
  for pid in "$@"; do
    kb=$(awk '/^VmRSS:/ { print $2 }' /proc/"$pid"/status 2>/dev/null || true)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

declare -A X=()   # X[scenario|target|metric]: figures of the streams, soak and scale sections
xrec() { # xrec SCENARIO TARGET METRIC VALUE: keep a figure and write it to the extra CSV
  X[$1|$2|$3]=$4
  echo "$1,$2,$3,$4" >>"$OUT_XCSV"
}

# run_oha OUT SECONDS URL KEY MODEL: oha at the open-loop rate, JSON summary in OUT.
run_oha() {
  local out=$1 secs=$2 url=$3 key=$4 model=$5
  "${PIN_LOAD[@]}" "$OHA_BIN" --no-tui --output-format json -q "$OPEN_RATE" -z "${secs}s" \
    -c "$OPEN_CONNS" --latency-correction -t 10s -m POST -H "Content-Type: application/json" \
    -H "Authorization: Bearer $key" -d "$(request_body "$model" 0)" "$url" >"$out" 2>"$out.err"
}

# measure_open_loop SCENARIO TARGET URL KEY MODEL PIDS...: like measure, with oha at a fixed rate.
measure_open_loop() {
  local sc=$1 tgt=$2 url=$3 key=$4 model=$5
  shift 5
  local -a roots=("$@") pids=() fields
  local raw="$TMP_DIR/oha-$sc-$tgt.json" c0 c1 kv k
  local -A W=()
  if [[ ${#roots[@]} -gt 0 ]]; then
    mapfile -t pids < <(pid_tree "${roots[@]}")
    reset_peak_rss "${pids[@]}"
  fi
  say "  $tgt: warm-up ${WARMUP}s at $OPEN_RATE req/s"
  if [[ $WARMUP -gt 0 ]]; then
    run_oha "$TMP_DIR/oha-warmup.json" "$WARMUP" "$url" "$key" "$model" ||
      { cat "$TMP_DIR/oha-warmup.json.err" >&2; die "oha failed during warm-up of $tgt"; }
  fi
  if [[ ${#pids[@]} -gt 0 ]]; then c0=$(cpu_ticks "${pids[@]}"); fi
  say "  $tgt: measuring ${DURATION}s at $OPEN_RATE req/s"
  run_oha "$raw" "$DURATION" "$url" "$key" "$model" ||
    { cat "$raw.err" >&2; die "oha failed while measuring $tgt"; }
  if [[ ${#pids[@]} -gt 0 ]]; then
    c1=$(cpu_ticks "${pids[@]}")
    R[$sc|$tgt|rss_kb]=$(peak_rss_kb "${pids[@]}")
  fi
  {
    echo "## $sc / $tgt (oha JSON)"
    cat "$raw"
    echo
  } >>"$OUT_LOG"
  kv=$(python3 - "$raw" "$DURATION" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
lat = d.get("latencyPercentiles") or {}
codes = d.get("statusCodeDistribution") or {}
errors = d.get("errorDistribution") or {}
ok = sum(v for k, v in codes.items() if str(k).startswith("2"))
bad = sum(v for k, v in codes.items() if not str(k).startswith("2"))
us = lambda v: int(round((v or 0) * 1e6))
rps = (d.get("summary") or {}).get("requestsPerSec") or (ok + bad) / float(sys.argv[2])
# oha reports latencies in seconds.
print("requests=%d ok=%d non2xx=%d errors=%d rps=%.3f p50_us=%d p90_us=%d p99_us=%d"
      % (ok + bad, ok, bad, sum(errors.values()), rps,
         us(lat.get("p50")), us(lat.get("p90")), us(lat.get("p99"))))
PY
  ) || die "could not read oha's JSON output for $tgt (see $OUT_LOG)"
  read -r -a fields <<<"$kv"
  for k in "${fields[@]}"; do W[${k%%=*}]=${k#*=}; done
  [[ ${W[requests]} -gt 0 ]] || die "$tgt completed no requests in scenario $sc (see $OUT_LOG)"
  if [[ ${W[non2xx]} -gt 0 || ${W[errors]} -gt 0 ]]; then
    WARNINGS+=("$sc / $tgt: ${W[non2xx]} non-2xx responses and ${W[errors]} errors out of ${W[requests]} requests")
    say "  warning: ${WARNINGS[-1]}"
  fi
  R[$sc|$tgt|requests]=${W[requests]}
  R[$sc|$tgt|rps]=${W[rps]}
  R[$sc|$tgt|p50]=$(calc "${W[p50_us]} / 1000")
  R[$sc|$tgt|p90]=$(calc "${W[p90_us]} / 1000")
  R[$sc|$tgt|p99]=$(calc "${W[p99_us]} / 1000")
  if [[ ${#pids[@]} -gt 0 ]]; then
    R[$sc|$tgt|cpu]=$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / ${W[requests]}")
  fi
  say_result "$sc" "$tgt"
}

# measure_streams SCENARIO TARGET URL KEY MODEL PIDS...: hold $STREAMS streams open at once and
# sample the target's RSS meanwhile.
measure_streams() {
  local sc=$1 tgt=$2 url=$3 key=$4 model=$5
  shift 5
  local -a roots=("$@") pids=() fields
  local raw="$TMP_DIR/streams-$sc-$tgt.out" c0="" c1 client kv k peak=0 now idle=""
  local -A W=()
  if [[ ${#roots[@]} -gt 0 ]]; then
    mapfile -t pids < <(pid_tree "${roots[@]}")
    idle=$(rss_now_kb "${pids[@]}")
    reset_peak_rss "${pids[@]}"
    c0=$(cpu_ticks "${pids[@]}")
  fi
  say "  $tgt: opening $STREAMS streams"
  start_bg "stream client" "$raw" "${PIN_LOAD[@]}" python3 "$SCRIPT_DIR/streams.py" "$url" "$key" \
    "$model" "$STREAMS" "$STREAM_TOKENS" 120
  client=$LAST_PID
  while alive "$client"; do
    if [[ ${#pids[@]} -gt 0 ]]; then
      now=$(rss_now_kb "${pids[@]}")
      if [[ $now -gt $peak ]]; then peak=$now; fi
    fi
    sleep 0.25
  done
  wait "$client" 2>/dev/null || true
  unset "LIVE[$client]"
  {
    echo "## $sc / $tgt"
    cat "$raw"
    echo
  } >>"$OUT_LOG"
  kv=$(grep '^STREAMS_RESULT ' "$raw" | tail -n 1 || true)
  [[ -n $kv ]] || { cat "$raw" >&2; die "the stream client printed no result for $tgt"; }
  kv=${kv%% first_error=*}
  read -r -a fields <<<"${kv#STREAMS_RESULT }"
  for k in "${fields[@]}"; do W[${k%%=*}]=${k#*=}; done
  if [[ ${W[failed]} -gt 0 ]]; then
    WARNINGS+=("$sc / $tgt: ${W[failed]} of ${W[streams]} streams failed (first: $(sed -n 's/.* first_error=//p' "$raw" | tail -n 1))")
    say "  warning: ${WARNINGS[-1]}"
  fi
  xrec "$sc" "$tgt" streams_ok "${W[ok]}"
  xrec "$sc" "$tgt" streams_failed "${W[failed]}"
  xrec "$sc" "$tgt" max_open "${W[max_open]}"
  xrec "$sc" "$tgt" all_open_after_ms "${W[all_open_after_ms]}"
  xrec "$sc" "$tgt" secs "${W[secs]}"
  if [[ ${#pids[@]} -gt 0 ]]; then
    c1=$(cpu_ticks "${pids[@]}")
    # VmHWM catches a peak between two samples.
    now=$(peak_rss_kb "${pids[@]}")
    if [[ $now -gt $peak ]]; then peak=$now; fi
    xrec "$sc" "$tgt" idle_rss_mib "$(fmt 1 "$(calc "$idle / 1024")")"
    xrec "$sc" "$tgt" peak_rss_mib "$(fmt 1 "$(calc "$peak / 1024")")"
    xrec "$sc" "$tgt" rss_per_stream_kib "$(fmt 1 "$(calc "($peak - $idle) / $STREAMS")")"
    if [[ ${W[ok]} -gt 0 ]]; then
      xrec "$sc" "$tgt" cpu_us_per_stream "$(fmt 0 "$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / ${W[ok]}")")"
    fi
  fi
  XROWS[$sc]="${XROWS[$sc]:-} $tgt"
  say "  $tgt: ${W[ok]} of ${W[streams]} streams completed, at most ${W[max_open]} open at once${X[$sc|$tgt|peak_rss_mib]:+, peak RSS ${X[$sc|$tgt|peak_rss_mib]} MiB}"
}
declare -A XROWS=() # scenario -> targets with rows in the scenario's own section

# soak_stats SAMPLES: "start middle end slope slope2" (MiB, MiB/min) from "seconds kB" lines;
# slope is a least-squares fit over all samples, slope2 over the second half.
soak_stats() {
  awk '
    function fit(from, to,   i, n, sx, sy, sxx, sxy) {
      n = 0; sx = sy = sxx = sxy = 0
      for (i = from; i <= to; i++) { n++; sx += t[i]; sy += m[i]; sxx += t[i] * t[i]; sxy += t[i] * m[i] }
      if (n < 2 || n * sxx - sx * sx == 0) return 0
      return (n * sxy - sx * sy) / (n * sxx - sx * sx) * 60
    }
    { n++; t[n] = $1; m[n] = $2 / 1024 }
    END {
      if (n == 0) { print "0 0 0 0 0"; exit }
      mid = int((n + 1) / 2)
      printf "%.1f %.1f %.1f %.3f %.3f\n", m[1], m[mid], m[n], fit(1, n), fit(mid, n)
    }' "$1"
}

# measure_soak SCENARIO TARGET URL KEY MODEL PIDS...: warm-up, then $SOAK_SECONDS of the mixed
# load with the target's RSS sampled every $SOAK_SAMPLE_SECS seconds.
measure_soak() {
  local sc=$1 tgt=$2 url=$3 key=$4 model=$5
  shift 5
  local -a roots=("$@") pids=()
  local raw="$TMP_DIR/wrk-$sc-$tgt.out" samples="$TMP_DIR/rss-$sc-$tgt.txt" c0 c1 load t0 next now
  local start middle end slope slope2
  mapfile -t pids < <(pid_tree "${roots[@]}")
  reset_peak_rss "${pids[@]}"
  say "  $tgt: warm-up ${WARMUP}s"
  if [[ $WARMUP -gt 0 ]]; then
    run_wrk "$TMP_DIR/warmup.out" "$WARMUP" "$url" "$key" "$model" ||
      { cat "$TMP_DIR/warmup.out" >&2; die "wrk failed during warm-up of $tgt"; }
  fi
  c0=$(cpu_ticks "${pids[@]}")
  say "  $tgt: soaking ${SOAK_SECONDS}s with ${SC_CONNS} connections, RSS every ${SOAK_SAMPLE_SECS}s"
  : >"$samples"
  t0=$(date +%s)
  wrk_cmd "$SOAK_SECONDS" "$url" "$key" "$model"
  start_bg "wrk" "$raw" "${WRK_CMD[@]}"
  load=$LAST_PID
  next=0
  while alive "$load"; do
    now=$(($(date +%s) - t0))
    if [[ $now -ge $next ]]; then
      echo "$now $(rss_now_kb "${pids[@]}")" >>"$samples"
      next=$((next + SOAK_SAMPLE_SECS))
    fi
    sleep 0.2
  done
  wait "$load" || { cat "$raw" >&2; die "wrk failed while soaking $tgt"; }
  unset "LIVE[$load]"
  echo "$(($(date +%s) - t0)) $(rss_now_kb "${pids[@]}")" >>"$samples"
  c1=$(cpu_ticks "${pids[@]}")
  R[$sc|$tgt|rss_kb]=$(peak_rss_kb "${pids[@]}")
  record_wrk "$sc" "$tgt" "$raw"
  R[$sc|$tgt|cpu]=$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / ${R[$sc|$tgt|requests]}")
  {
    echo "## $sc / $tgt: RSS samples (seconds since start, kB)"
    cat "$samples"
    echo
  } >>"$OUT_LOG"
  read -r start middle end slope slope2 < <(soak_stats "$samples")
  xrec "$sc" "$tgt" rss_start_mib "$start"
  xrec "$sc" "$tgt" rss_middle_mib "$middle"
  xrec "$sc" "$tgt" rss_end_mib "$end"
  xrec "$sc" "$tgt" slope_mib_per_min "$slope"
  xrec "$sc" "$tgt" slope_second_half_mib_per_min "$slope2"
  # Growth: still rising in the second half (allocator pools and caches settle in the first).
  if awk "BEGIN { exit !($slope2 > 0.5 && $end - $middle > 1) }"; then
    xrec "$sc" "$tgt" growth yes
    WARNINGS+=("$sc / $tgt: RSS still grows in the second half of the soak ($slope2 MiB/min; $start → $middle → $end MiB)")
    say "  warning: ${WARNINGS[-1]}"
  else
    xrec "$sc" "$tgt" growth no
  fi
  XROWS[$sc]="${XROWS[$sc]:-} $tgt"
  say_result "$sc" "$tgt"
  say "  $tgt: RSS $start → $middle → $end MiB, slope $slope MiB/min (second half $slope2)"
}

# scale_state_measure SCENARIO LABEL DATA_DIR: start the hub on DATA_DIR, measure c64, stop it.
scale_state_measure() {
  local sc=$1 label=$2 dir=$3 url
  start_hub "$sc-$label" "$dir"
  url="http://127.0.0.1:$HUB_PORT/v1/chat/completions"
  smoke_check aigne-hub "$url" "$HUB_KEY" "$HUB_MODEL" || { log_tail "$HUB_LOG"; die "aigne-hub is not answering"; }
  measure "$sc" "$label" "$url" "$HUB_KEY" "$HUB_MODEL" "$HUB_PID"
  append_csv "$sc" "$label"
  stop_hub
}

# usage_count DATA_DIR: usage records in the hub's SQLite database (read-only), empty without sqlite3.
usage_count() {
  if command -v sqlite3 >/dev/null 2>&1 && [[ -f $1/hub.db ]]; then
    sqlite3 -readonly "$1/hub.db" 'SELECT count(*) FROM usage_records' 2>/dev/null || true
  fi
}

# run_scale SCENARIO: the hub in a copy of the freshly set-up data directory, measured as it is,
# then again after its database has grown (keys or usage records).
run_scale() {
  local sc=$1 dir="$TMP_DIR/hub-$1" before after json admin_key out total=0 chunk got secs
  rm -rf -- "$dir"
  cp -a "$HUB_CLEAN" "$dir"
  start_sim "$sc"
  if [[ $SC_KIND == scale-keys ]]; then
    xrec "$sc" hub-1-key keys 1
    scale_state_measure "$sc" hub-1-key "$dir"
    json=$("${HUB_CMD[@]}" key create --name bench-admin --type admin --json --data-dir "$dir" 2>&1) ||
      die "aigne-hub key create --type admin failed: $json"
    admin_key=$(printf '%s' "$json" | sed -n 's/.*"key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n $admin_key ]] || die "could not read the admin key from: $json"
    start_hub "$sc-fill" "$dir"
    say "  adding $SCALE_KEYS keys through POST /api/admin/keys"
    out=$(python3 "$SCRIPT_DIR/mkkeys.py" "$HUB_PORT" "$admin_key" "$SCALE_KEYS" 4) || {
      WARNINGS+=("$sc: creating keys stopped early: $out")
      say "  warning: ${WARNINGS[-1]}"
    }
    say "  $out"
    stop_hub
    got=$(printf '%s' "$out" | sed -n 's/^created \([0-9]*\) keys.*/\1/p')
    # The benchmark's key, the admin key and the bulk keys.
    after=$((${got:-0} + 2))
    xrec "$sc" "hub-$after-keys" keys "$after"
    scale_state_measure "$sc" "hub-$after-keys" "$dir"
    XROWS[$sc]="hub-1-key hub-$after-keys"
  else
    before=$(usage_count "$dir")
    xrec "$sc" hub-empty-usage usage_records_before "${before:-0}"
    scale_state_measure "$sc" hub-empty-usage "$dir"
    start_hub "$sc-fill" "$dir"
    say "  filling the usage table to about $SCALE_USAGE records with calls through the hub"
    secs=2
    while [[ $total -lt $SCALE_USAGE ]]; do
      run_wrk "$TMP_DIR/fill.out" "$secs" "http://127.0.0.1:$HUB_PORT/v1/chat/completions" "$HUB_KEY" "$HUB_MODEL" ||
        { cat "$TMP_DIR/fill.out" >&2; die "wrk failed while filling the usage table"; }
      chunk=$(sed -n 's/^BENCH_RESULT requests=\([0-9]*\) .*/\1/p' "$TMP_DIR/fill.out" | tail -n 1)
      [[ ${chunk:-0} -gt 0 ]] || die "the hub served no calls while filling the usage table"
      total=$((total + chunk))
      say "  $total calls"
      # The next chunk: about what is left at the rate just seen, 1 to 10 s.
      secs=$(((SCALE_USAGE - total) * secs / chunk + 1))
      if [[ $secs -gt 10 ]]; then secs=10; fi
    done
    # The usage writer flushes on SIGTERM; a large backlog can take a while.
    stop_pid "$HUB_PID" 120
    HUB_PID=""
    after=$(usage_count "$dir")
    if [[ -z $after ]]; then after="~$((total + ${R[$sc|hub-empty-usage|requests]:-0}))"; fi
    xrec "$sc" hub-large-usage usage_records_before "$after"
    scale_state_measure "$sc" hub-large-usage "$dir"
    XROWS[$sc]="hub-empty-usage hub-large-usage"
  fi
  stop_sim
  rm -rf -- "$dir"
}

SKIPPED=()
skip_scenario() { # skip_scenario SCENARIO REASON
  SKIPPED+=("$1: $2")
  say "  skipped: $2"
}

# ---------------------------------------------------------------- results --
declare -A R=() # R[scenario|target|field]
WARNINGS=()
TS=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT_DIR"
OUT_MD="$OUT_DIR/$TS.md"
OUT_CSV="$OUT_DIR/$TS.csv"
OUT_LOG="$OUT_DIR/$TS.log"
OUT_XCSV="$OUT_DIR/$TS-extra.csv"
echo "scenario,target,metric,value" >"$OUT_XCSV"
echo "scenario,target,rps,p50_ms,p90_ms,p99_ms,added_p50_ms,added_p99_ms,cpu_us_per_req,peak_rss_mib" >"$OUT_CSV"
: >"$OUT_LOG"

# measure SCENARIO TARGET URL KEY MODEL PIDS...: warm up, then one measured window.
measure() {
  local sc=$1 tgt=$2 url=$3 key=$4 model=$5
  shift 5
  local -a roots=("$@") pids=()
  local raw="$TMP_DIR/wrk-$sc-$tgt.out" c0 c1

  if [[ ${#roots[@]} -gt 0 ]]; then
    mapfile -t pids < <(pid_tree "${roots[@]}")
    # Peak memory covers this scenario's warm-up and measured window.
    reset_peak_rss "${pids[@]}"
  fi
  say "  $tgt: warm-up ${WARMUP}s"
  if [[ $WARMUP -gt 0 ]]; then
    run_wrk "$TMP_DIR/warmup.out" "$WARMUP" "$url" "$key" "$model" ||
      { cat "$TMP_DIR/warmup.out" >&2; die "wrk failed during warm-up of $tgt"; }
  fi
  if [[ ${#pids[@]} -gt 0 ]]; then
    c0=$(cpu_ticks "${pids[@]}")
  fi
  say "  $tgt: measuring ${DURATION}s with ${SC_CONNS} connection(s)"
  run_wrk "$raw" "$DURATION" "$url" "$key" "$model" ||
    { cat "$raw" >&2; die "wrk failed while measuring $tgt"; }
  if [[ ${#pids[@]} -gt 0 ]]; then
    c1=$(cpu_ticks "${pids[@]}")
    R[$sc|$tgt|rss_kb]=$(peak_rss_kb "${pids[@]}")
  fi
  record_wrk "$sc" "$tgt" "$raw"
  if [[ ${#pids[@]} -gt 0 ]]; then
    R[$sc|$tgt|cpu]=$(calc "($c1 - $c0) * 1000000 / $CLK_TCK / ${R[$sc|$tgt|requests]}")
  fi
  say_result "$sc" "$tgt"
}

say_result() { # say_result SCENARIO TARGET
  say "  $2: $(printf '%.0f' "${R[$1|$2|rps]}") req/s, p50 $(printf '%.3f' "${R[$1|$2|p50]}") ms, p99 $(printf '%.3f' "${R[$1|$2|p99]}") ms${R[$1|$2|cpu]:+, $(printf '%.1f' "${R[$1|$2|cpu]}") CPU µs/req}"
}

# record_wrk SCENARIO TARGET RAW: requests, req/s and percentiles from wrk's result line.
record_wrk() {
  local sc=$1 tgt=$2 raw=$3 kv k requests duration_us
  local -a fields
  local -A W=()
  {
    echo "## $sc / $tgt"
    cat "$raw"
    echo
  } >>"$OUT_LOG"

  kv=$(grep '^BENCH_RESULT ' "$raw" | tail -n 1 || true)
  [[ -n $kv ]] || { cat "$raw" >&2; die "no result line in wrk output for $tgt"; }
  read -r -a fields <<<"${kv#BENCH_RESULT }"
  for k in "${fields[@]}"; do
    W[${k%%=*}]=${k#*=}
  done
  requests=${W[requests]:-0}
  duration_us=${W[duration_us]:-0}
  if [[ $requests -eq 0 || $duration_us -eq 0 ]]; then
    die "$tgt completed no requests in scenario $sc (see $OUT_LOG)"
  fi
  local errs=$((W[err_connect] + W[err_read] + W[err_write] + W[err_timeout]))
  if [[ ${W[err_status]} -gt 0 || $errs -gt 0 ]]; then
    WARNINGS+=("$sc / $tgt: ${W[err_status]} non-2xx responses, ${W[err_connect]} connect, ${W[err_read]} read, ${W[err_write]} write errors, ${W[err_timeout]} timeouts out of $requests requests")
    say "  warning: ${WARNINGS[-1]}"
  fi
  R[$sc|$tgt|requests]=$requests
  R[$sc|$tgt|rps]=$(calc "$requests * 1000000 / $duration_us")
  R[$sc|$tgt|p50]=$(calc "${W[p50_us]} / 1000")
  R[$sc|$tgt|p90]=$(calc "${W[p90_us]} / 1000")
  R[$sc|$tgt|p99]=$(calc "${W[p99_us]} / 1000")
}

# Fills ROW_* for scenario $1 and target $2 (empty when unknown).
row_values() {
  local sc=$1 tgt=$2 base="$1|direct"
  ROW_RPS=$(fmt 1 "${R[$sc|$tgt|rps]:-}")
  ROW_P50=$(fmt 3 "${R[$sc|$tgt|p50]:-}")
  ROW_P90=$(fmt 3 "${R[$sc|$tgt|p90]:-}")
  ROW_P99=$(fmt 3 "${R[$sc|$tgt|p99]:-}")
  ROW_ADD50=""
  ROW_ADD99=""
  if [[ $tgt != direct && -n ${R[$base|p50]:-} && -n ${R[$sc|$tgt|p50]:-} ]]; then
    ROW_ADD50=$(printf '%.3f' "$(calc "${R[$sc|$tgt|p50]} - ${R[$base|p50]}")")
    ROW_ADD99=$(printf '%.3f' "$(calc "${R[$sc|$tgt|p99]} - ${R[$base|p99]}")")
  fi
  ROW_CPU=""
  if [[ -n ${R[$sc|$tgt|cpu]:-} ]]; then ROW_CPU=$(printf '%.1f' "${R[$sc|$tgt|cpu]}"); fi
  ROW_RSS=""
  if [[ -n ${R[$sc|$tgt|rss_kb]:-} ]]; then ROW_RSS=$(printf '%.1f' "$(calc "${R[$sc|$tgt|rss_kb]} / 1024")"); fi
}

fmt() { # fmt DECIMALS VALUE: the number rounded, or nothing for an empty value
  if [[ -n $2 ]]; then printf "%.$1f" "$2"; fi
}

declare -A ROWS=() # scenario -> targets with a row in the main table, in the order measured
append_csv() { # append_csv SCENARIO TARGET
  ROWS[$1]="${ROWS[$1]:-} $2"
  row_values "$1" "$2"
  echo "$1,$2,$ROW_RPS,$ROW_P50,$ROW_P90,$ROW_P99,$ROW_ADD50,$ROW_ADD99,$ROW_CPU,$ROW_RSS" >>"$OUT_CSV"
}

dash() { if [[ -n $1 ]]; then printf '%s' "$1"; else printf '–'; fi; }

render_md() {
  local sc tgt cpu_model commit wrk_version nginx_version hub_version pinning
  cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
  commit=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo "none")
  if [[ -n $(git -C "$REPO_DIR" status --porcelain 2>/dev/null | head -n 1) ]]; then commit="$commit (with local changes)"; fi
  wrk_version=$({ "$WRK_BIN" -v 2>&1 || true; } | head -n 1 | awk '{ print $1, $2 }')
  nginx_version=""
  if has_target nginx; then nginx_version=$({ "$NGINX_BIN" -v 2>&1 || true; } | head -n 1 | sed 's/^nginx version: //'); fi
  hub_version=""
  if has_target hub; then
    hub_version=$({ "$HUB_BIN" --version 2>/dev/null || true; } | head -n 1 | sed 's/^aigne-hub //')
    hub_version=${hub_version:-unknown}
  fi
  if [[ $PINNED == 1 ]]; then
    pinning="target under test on CPU $TARGET_CPU; upstream simulator and wrk on CPU $LOAD_CPU (direct: simulator on CPU $TARGET_CPU, wrk on CPU $LOAD_CPU)"
  else
    pinning="none"
  fi

  echo "# AIGNE Hub overhead benchmark, $TS"
  echo
  echo "- machine: ${cpu_model:-unknown CPU}, $NCPU CPUs, Linux $(uname -r)"
  echo "- pinning: $pinning"
  echo "- load: ${wrk_version:-wrk}, $WRK_THREADS thread(s); ${WARMUP} s warm-up, then ${DURATION} s measured per target and scenario; targets run one after another within each scenario"
  if has_target hub; then
    echo "- request: POST /v1/chat/completions, max_tokens $MAX_TOKENS; hub with API key auth and usage recording"
  else
    echo "- request: POST /v1/chat/completions, max_tokens $MAX_TOKENS"
  fi
  echo "- versions: commit $commit${hub_version:+, aigne-hub $hub_version}${nginx_version:+, nginx $nginx_version}${LITELLM_PID:+, LiteLLM $LITELLM_VERSION (one worker, master key, no database)}${OHA_BIN:+, $("$OHA_BIN" --version 2>/dev/null | head -n 1) for open-loop}"
  echo
  local any_rows=""
  for sc in "${SCENARIOS[@]}"; do any_rows+=${ROWS[$sc]:-}; done
  if [[ -n $any_rows ]]; then
  echo "| scenario | target | req/s | p50 ms | p90 ms | p99 ms | added p50 ms | added p99 ms | CPU µs/req | peak RSS MiB |"
  echo "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"
  fi
  for sc in "${SCENARIOS[@]}"; do
    for tgt in ${ROWS[$sc]:-}; do
      [[ -n ${R[$sc|$tgt|rps]:-} ]] || continue
      row_values "$sc" "$tgt"
      echo "| $sc | $tgt | $ROW_RPS | $ROW_P50 | $ROW_P90 | $ROW_P99 | $(dash "$ROW_ADD50") | $(dash "$ROW_ADD99") | $(dash "$ROW_CPU") | $(dash "$ROW_RSS") |"
    done
  done

  local both=""
  for sc in "${SCENARIOS[@]}"; do
    if [[ -n ${R[$sc|hub|rps]:-} && -n ${R[$sc|nginx|rps]:-} ]]; then both=1; fi
  done
  if [[ -n $both ]]; then
    echo
    echo "Hub compared with nginx (same scenario, same run):"
    echo
    echo "| scenario | CPU µs/req hub ÷ nginx | added p50 ms hub | added p50 ms nginx | added p99 ms hub | added p99 ms nginx | req/s hub ÷ direct |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    local ratio h50 n50 h99 n99 rps_ratio
    for sc in "${SCENARIOS[@]}"; do
      [[ -n ${R[$sc|hub|rps]:-} && -n ${R[$sc|nginx|rps]:-} ]] || continue
      ratio=""
      if [[ -n ${R[$sc|hub|cpu]:-} && -n ${R[$sc|nginx|cpu]:-} ]] &&
        awk "BEGIN { exit !(${R[$sc|nginx|cpu]} > 0) }"; then
        ratio=$(printf '%.2f×' "$(calc "${R[$sc|hub|cpu]} / ${R[$sc|nginx|cpu]}")")
      fi
      row_values "$sc" hub
      h50=$ROW_ADD50
      h99=$ROW_ADD99
      row_values "$sc" nginx
      n50=$ROW_ADD50
      n99=$ROW_ADD99
      rps_ratio=""
      if [[ -n ${R[$sc|direct|rps]:-} ]]; then
        rps_ratio=$(printf '%.2f' "$(calc "${R[$sc|hub|rps]} / ${R[$sc|direct|rps]}")")
      fi
      echo "| $sc | $(dash "$ratio") | $(dash "$h50") | $(dash "$n50") | $(dash "$h99") | $(dash "$n99") | $(dash "$rps_ratio") |"
    done
  fi

  local kind
  for sc in "${SCENARIOS[@]}"; do
    [[ -n ${XROWS[$sc]:-} ]] || continue
    define_scenario "$sc"
    kind=$SC_KIND
    echo
    case $kind in
      streams)
        echo "Open streams ($sc): $STREAMS streamed calls at once, each about $((STREAM_TOKENS * STREAM_INTERVAL_MS / 1000)) s long; RSS of the target's processes sampled every 0.25 s and its VmHWM:"
        echo
        echo "| target | streams completed | failed | most open at once | all open after ms | idle RSS MiB | peak RSS MiB | KiB per stream | CPU µs/stream |"
        echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
        for tgt in ${XROWS[$sc]}; do
          echo "| $tgt | ${X[$sc|$tgt|streams_ok]} | ${X[$sc|$tgt|streams_failed]} | ${X[$sc|$tgt|max_open]} | $(dash "${X[$sc|$tgt|all_open_after_ms]/-1/}") | $(dash "${X[$sc|$tgt|idle_rss_mib]:-}") | $(dash "${X[$sc|$tgt|peak_rss_mib]:-}") | $(dash "${X[$sc|$tgt|rss_per_stream_kib]:-}") | $(dash "${X[$sc|$tgt|cpu_us_per_stream]:-}") |"
        done ;;
      soak)
        echo "Soak ($sc): ${SOAK_SECONDS} s per target; RSS sampled every ${SOAK_SAMPLE_SECS} s (start: first sample after warm-up):"
        echo
        echo "| target | RSS start MiB | RSS middle MiB | RSS end MiB | slope MiB/min | slope, second half | growth |"
        echo "|---|--:|--:|--:|--:|--:|---|"
        for tgt in ${XROWS[$sc]}; do
          echo "| $tgt | ${X[$sc|$tgt|rss_start_mib]} | ${X[$sc|$tgt|rss_middle_mib]} | ${X[$sc|$tgt|rss_end_mib]} | ${X[$sc|$tgt|slope_mib_per_min]} | ${X[$sc|$tgt|slope_second_half_mib_per_min]} | ${X[$sc|$tgt|growth]} |"
        done ;;
      scale-keys | scale-usage)
        local a b ratio=""
        read -r a b <<<"${XROWS[$sc]}"
        if [[ $kind == scale-keys ]]; then
          echo "Keys in the database ($sc): the hub with ${X[$sc|$a|keys]} key, then with ${X[$sc|$b|keys]} keys (c64, non-streamed):"
        else
          echo "Usage table size ($sc): the hub with ${X[$sc|$a|usage_records_before]} usage records, then with ${X[$sc|$b|usage_records_before]} (c64, non-streamed):"
        fi
        if [[ -n ${R[$sc|$a|cpu]:-} && -n ${R[$sc|$b|cpu]:-} ]] && awk "BEGIN { exit !(${R[$sc|$a|cpu]} > 0) }"; then
          ratio=$(printf '%.2f×' "$(calc "${R[$sc|$b|cpu]} / ${R[$sc|$a|cpu]}")")
        fi
        echo
        echo "| state | req/s | p99 ms | CPU µs/req |"
        echo "|---|--:|--:|--:|"
        for tgt in $a $b; do
          row_values "$sc" "$tgt"
          echo "| $tgt | $(dash "$ROW_RPS") | $(dash "$ROW_P99") | $(dash "$ROW_CPU") |"
        done
        echo
        echo "CPU µs/req, large ÷ small: $(dash "$ratio")" ;;
    esac
  done
  if [[ ${#SKIPPED[@]} -gt 0 ]]; then
    echo
    echo "Skipped:"
    local m
    for m in "${SKIPPED[@]}"; do echo "- $m"; done
  fi

  echo
  echo "Scenarios:"
  for sc in "${SCENARIOS[@]}"; do
    define_scenario "$sc"
    echo "- $sc: $SC_DESC"
  done
  if [[ ${#WARNINGS[@]} -gt 0 ]]; then
    echo
    echo "Warnings:"
    local w
    for w in "${WARNINGS[@]}"; do echo "- $w"; done
  fi
}

# --------------------------------------------------------------------- run --
if [[ $NEED_OHA == 1 ]]; then ensure_oha; fi
if [[ $WITH_LITELLM == 1 ]]; then install_litellm; fi
if [[ -z $SIM_PORT ]]; then SIM_PORT=$(free_port); fi
if port_open "$SIM_PORT"; then die "port $SIM_PORT is already in use; the simulator needs it"; fi
if has_target hub; then setup_hub; fi
if [[ $WITH_LITELLM == 1 ]]; then start_litellm; fi
if [[ -n $EXTRA_URL && $EXTRA_URL =~ ^http://([^/:]+)(:([0-9]+))?/ ]]; then
  extra_host=${BASH_REMATCH[1]}
  extra_port=${BASH_REMATCH[3]:-80}
  (exec 3<>"/dev/tcp/$extra_host/$extra_port") 2>/dev/null ||
    die "nothing listens at $extra_host:$extra_port; start $EXTRA_NAME first (see bench/README.md)"
fi

say "targets: ${TARGETS[*]}; scenarios: ${SCENARIOS[*]}; ${DURATION}s measured per target"
# runs_on TARGET: whether the current scenario runs against TARGET.
runs_on() {
  [[ -z $SC_ONLY || ,$SC_ONLY, == *,$1,* ]]
}
# measure_scenario SCENARIO TARGET URL KEY MODEL PIDS...: the current scenario's kind of load.
measure_scenario() {
  case $SC_KIND in
    open-loop) measure_open_loop "$@" ;;
    streams) measure_streams "$@" ;;
    soak) measure_soak "$@" ;;
    *) measure "$@" ;;
  esac
}

for sc in "${SCENARIOS[@]}"; do
  define_scenario "$sc"
  say "scenario $sc: $SC_DESC"
  case $SC_KIND in
    scale-keys | scale-usage)
      if has_target hub; then run_scale "$sc"; else skip_scenario "$sc" "it measures the hub, which is not among the targets"; fi
      continue ;;
    open-loop)
      if [[ -z $OHA_BIN ]]; then
        skip_scenario "$sc" "$OHA_MISSING"
        continue
      fi ;;
  esac
  start_sim "$sc"
  for tgt in "${TARGETS[@]}"; do
    runs_on "$tgt" || continue
    case $tgt in
      direct)
        repin "$SIM_PID" "$TARGET_CPU"
        url="http://127.0.0.1:$SIM_PORT/v1/chat/completions"
        smoke_check direct "$url" "$SIM_KEY" "$DIRECT_MODEL" || { log_tail "$SIM_LOG"; die "the upstream simulator is not answering"; }
        measure_scenario "$sc" direct "$url" "$SIM_KEY" "$DIRECT_MODEL" "$SIM_PID"
        repin "$SIM_PID" "$LOAD_CPU"
        ;;
      nginx)
        repin "$SIM_PID" "$LOAD_CPU"
        start_nginx
        url="http://127.0.0.1:$NGINX_PORT/v1/chat/completions"
        smoke_check nginx "$url" "$SIM_KEY" "$DIRECT_MODEL" || { log_tail "$TMP_DIR/nginx/error.log"; die "nginx is not forwarding"; }
        measure_scenario "$sc" nginx "$url" "$SIM_KEY" "$DIRECT_MODEL" "$NGINX_PID"
        stop_nginx
        ;;
      hub)
        repin "$SIM_PID" "$LOAD_CPU"
        start_hub "$sc"
        url="http://127.0.0.1:$HUB_PORT/v1/chat/completions"
        smoke_check aigne-hub "$url" "$HUB_KEY" "$HUB_MODEL" || { log_tail "$HUB_LOG"; die "aigne-hub is not answering"; }
        measure_scenario "$sc" hub "$url" "$HUB_KEY" "$HUB_MODEL" "$HUB_PID"
        stop_hub
        check_usage_recorded
        ;;
      *)
        repin "$SIM_PID" "$LOAD_CPU"
        smoke_check "$EXTRA_NAME" "$EXTRA_URL" "$EXTRA_KEY" "$EXTRA_MODEL" ||
          die "$EXTRA_NAME at $EXTRA_URL is not answering (is it forwarding to http://127.0.0.1:$SIM_PORT/v1?)"
        IFS=',' read -r -a extra_pids <<<"$EXTRA_PIDS"
        for p in "${extra_pids[@]}"; do
          if ! is_uint "$p" || [[ ! -d /proc/$p ]]; then die "--extra-pid: no process '$p'"; fi
        done
        measure_scenario "$sc" "$tgt" "$EXTRA_URL" "$EXTRA_KEY" "$EXTRA_MODEL" "${extra_pids[@]}"
        ;;
    esac
    if [[ $SC_KIND != streams ]]; then append_csv "$sc" "$tgt"; fi
  done
  stop_sim
done

render_md >"$OUT_MD"
cat "$OUT_MD"
say ""
say "results: $OUT_MD, $OUT_CSV, $OUT_XCSV (raw load generator output: $OUT_LOG)"
