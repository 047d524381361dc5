#!/bin/bash
# firecontrol pod agent: this VM's kubelet and kube-proxy (docs/agent-protocol.md §2-3).
#
# The same file on every VM; it holds no user input. Every value a user wrote is read
# from the metadata server into a variable (through printf -v) and handed to docker,
# curl or iptables as exactly one argv element: nothing is evaluated, split or globbed.
# Reports are JSON built only from container names (DNS labels), fixed words, numbers
# and docker ids that match a regex. The FIRECONTROL_* variables are for tests.
#
# Variables here are also assigned by get, through printf -v and namerefs:
# shellcheck disable=SC2154
set -euo pipefail

readonly METADATA=${FIRECONTROL_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1}
readonly ATTRIBUTES=$METADATA/instance/attributes
readonly DOCKER=${FIRECONTROL_DOCKER:-docker}
readonly IPTABLES=${FIRECONTROL_IPTABLES:-iptables}
readonly SERIAL=${FIRECONTROL_SERIAL:-/dev/ttyS1}
readonly HEALTH_DIR=${FIRECONTROL_HEALTH_DIR:-/var/lib/firecontrol/health}
readonly TICK=${FIRECONTROL_AGENT_TICK:-1}
readonly BACKOFF=${FIRECONTROL_AGENT_BACKOFF:-10}
readonly HEALTH_NAME=firecontrol_health  # '_': no DNS label, so no pod container has it
readonly HEALTH_IMAGE=mirror.gcr.io/library/busybox:1.36
readonly CHAIN=FIRECONTROL-SERVICES HOST_CHAIN=FIRECONTROL-HOSTPORTS
readonly SLOW_EVERY=5  # seconds between looks at service lines and the health server
# An image pull runs beside the loop (reports and heartbeats go on meanwhile); one that
# takes longer than this is given up as ErrImagePull and tried again after the back-off.
readonly PULL_TIMEOUT=${FIRECONTROL_AGENT_PULL_TIMEOUT:-600}
readonly DNS_LABEL='^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$'
readonly HOST_RE='^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$'
readonly TOKEN_CHARS="^[!#\$%&'*+.^_\`|~0-9A-Za-z-]+\$"
readonly DIGITS='^[0-9]{1,9}$'
readonly PROBE_KINDS=(startup liveness readiness)

log() { printf 'firecontrol-agent: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[[ $TICK =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "FIRECONTROL_AGENT_TICK is not a number"
if ! [[ $BACKOFF =~ $DIGITS ]] || ((BACKOFF == 0)); then die "FIRECONTROL_AGENT_BACKOFF is not a count"; fi
if ! [[ $PULL_TIMEOUT =~ $DIGITS ]] || ((PULL_TIMEOUT == 0)); then die "FIRECONTROL_AGENT_PULL_TIMEOUT is not a count"; fi
readonly MAX_BACKOFF=$((BACKOFF * 30)) BACKOFF_RESET=$((BACKOFF * 60))  # 300 s, 10 minutes

# ---- metadata ------------------------------------------------------------------------

declare -A KEYS=()  # the attribute keys the metadata server lists

# list_keys: refresh KEYS; status 1 if the listing cannot be read.
list_keys() {
  local listing key
  listing=$(curl --silent --fail --max-time 10 -H 'Metadata-Flavor: Google' "$ATTRIBUTES/") || return 1
  KEYS=()
  while IFS= read -r key; do
    [[ -n $key ]] && KEYS[$key]=1
  done <<<"$listing"
}

has() { [[ -v KEYS[$1] ]]; }

# get KEY VAR: attribute KEY's exact value into VAR (trailing newlines kept); status 1
# if it cannot be read. KEY is always made here, never taken from a user. (The local's
# odd name keeps it from shadowing the caller's VAR.)
get() {
  local __fc_got
  __fc_got=$(curl --silent --fail --max-time 10 -H 'Metadata-Flavor: Google' "$ATTRIBUTES/$1" && printf x) ||
    return 1
  printf -v "$2" '%s' "${__fc_got%x}"
}

# need KEY VAR [DEFAULT]: like get, but an absent key is DEFAULT (or fatal without one).
need() {
  if has "$1"; then
    get "$1" "$2" || die "cannot read metadata attribute $1"
  elif (($# > 2)); then
    printf -v "$2" '%s' "$3"
  else
    die "metadata attribute $1 is missing"
  fi
}

# count KEY VAR: a count or number the pod runtime wrote; absent is 0.
count() {
  need "$1" "$2" 0
  [[ ${!2} =~ $DIGITS ]] || die "metadata attribute $1 is not a count"
}

# ---- the pod's spec (read once: a pod's spec never changes) ----------------------------

declare -a NAMES=() IMAGES=()
declare -A TIMING=()  # "i_kind" -> "initialDelay period timeout successThreshold failureThreshold"

# load_action KEY ARRAY: a probe's or preStop's handler as ARRAY = (kind words...):
# http URL [--header H]...; tcp HOST PORT; exec ARGV...; sleep SECONDS; fail WHY.
load_action() {
  local key=$1 kind port host path scheme n j word hname hvalue
  local -n action=$2
  need "$key" kind
  case $kind in
    http | tcp)
      count "$key-port" port
      need "$key-host" host 127.0.0.1
      if ! [[ $host =~ $HOST_RE ]] || ((port < 1 || port > 65535)); then
        log "$key: the host or port is not usable; the handler fails"
        action=(fail)
        return
      fi
      if [[ $kind == tcp ]]; then
        action=(tcp "$host" "$port")
        return
      fi
      need "$key-path" path /
      need "$key-scheme" scheme HTTP
      if [[ $path != /* || $path == *[[:space:]]* ]] || ! [[ $scheme =~ ^HTTPS?$ ]]; then
        log "$key: the path or scheme is not usable; the handler fails"
        action=(fail)
        return
      fi
      action=(http "${scheme,,}://$host:$port$path")
      count "$key-headers" n
      for ((j = 0; j < n; j++)); do
        get "$key-header$j-name" hname || die "cannot read metadata attribute $key-header$j-name"
        get "$key-header$j-value" hvalue || die "cannot read metadata attribute $key-header$j-value"
        if ! [[ $hname =~ $TOKEN_CHARS ]] || [[ $hvalue == *[$'\r\n']* ]]; then
          log "$key: header $j is not a valid HTTP header; it is left out"
        elif [[ -z $hvalue ]]; then
          action+=(--header "$hname;")  # curl's way to send a header with an empty value
        else
          action+=(--header "$hname: $hvalue")
        fi
      done
      ;;
    exec)
      action=(exec)
      count "$key-command" n
      for ((j = 0; j < n; j++)); do
        get "$key-command$j" word || die "cannot read metadata attribute $key-command$j"
        action+=("$word")
      done
      ((n > 0)) || action=(fail)
      ;;
    sleep)
      count "$key-seconds" n
      action=(sleep "$n")
      ;;
    *)
      log "$key: unknown handler kind; it fails"
      action=(fail)
      ;;
  esac
}

# load_container I: container I's name, image, docker run argv (RUN_I) and handlers.
load_container() {
  local i=$1 name image n j key value word kind timing
  local -a command=()
  need "fc-c$i-name" name
  [[ $name =~ $DNS_LABEL && ${#name} -ge 2 ]] || die "fc-c$i-name is not a container name"
  need "fc-c$i-image" image
  NAMES[i]=$name
  IMAGES[i]=$image
  declare -ga "RUN_$i=()"
  local -n run="RUN_$i"
  run=(run --detach --network=host --name "$name")
  count "fc-c$i-env" n
  for ((j = 0; j < n; j++)); do
    need "fc-c$i-env$j-name" key
    need "fc-c$i-env$j-value" value
    run+=(--env "$key=$value")
  done
  count "fc-c$i-command" n
  for ((j = 0; j < n; j++)); do
    need "fc-c$i-command$j" word
    command+=("$word")
  done
  ((n > 0)) && run+=(--entrypoint "${command[0]}")
  run+=(-- "$image")
  ((n > 1)) && run+=("${command[@]:1}")
  count "fc-c$i-args" n
  for ((j = 0; j < n; j++)); do
    need "fc-c$i-arg$j" word
    run+=("$word")
  done
  for kind in "${PROBE_KINDS[@]}"; do
    has "fc-c$i-$kind" || continue
    declare -ga "PROBE_${i}_$kind=()"
    load_action "fc-c$i-$kind" "PROBE_${i}_$kind"
    need "fc-c$i-$kind-timing" timing "0 10 1 1 3"
    [[ $timing =~ ^[0-9]{1,4}( [0-9]{1,4}){4}$ ]] || die "fc-c$i-$kind-timing is not five numbers"
    TIMING[${i}_$kind]=$timing
  done
  if has "fc-c$i-prestop"; then
    declare -ga "PRESTOP_$i=()"
    load_action "fc-c$i-prestop" "PRESTOP_$i"
  fi
}

load_spec() {
  local policy i value
  until list_keys; do
    log "cannot list metadata attributes; retrying"
    sleep 5
  done
  need firecontrol-pod POD
  [[ $POD =~ ^[a-z0-9.-]{1,253}/[a-z0-9.-]{1,253}$ ]] || die "firecontrol-pod is not namespace/name"
  need fc-status-url STATUS_URL ""
  if [[ -n $STATUS_URL && ! $STATUS_URL =~ ^https?://[A-Za-z0-9._~:/%-]+$ ]]; then
    log "fc-status-url is not a plain URL; not reporting"
    STATUS_URL=""
  fi
  count fc-heartbeat-seconds HEARTBEAT
  ((HEARTBEAT > 0)) || HEARTBEAT=60
  need fc-grace-seconds GRACE 30
  [[ $GRACE =~ $DIGITS ]] || GRACE=30
  need fc-restart-policy policy Always
  case $policy in
    Always | OnFailure | Never) POLICY=$policy ;;
    *) die "fc-restart-policy is not Always, OnFailure or Never" ;;
  esac
  count fc-containers N
  ((N > 0)) || die "fc-containers: no containers"
  for ((i = 0; i < N; i++)); do
    load_container "$i"
  done
  need fc-host-ports value ""
  HOST_RULES=$(host_port_rules "$value")
}

# ---- handlers (probes and preStop) -----------------------------------------------------

# run_action ARRAY SECONDS CONTAINER: status 0 if the handler succeeded within SECONDS.
run_action() {
  local -n act=$1
  local seconds=$2 name=$3 code
  case ${act[0]} in
    http)
      code=$(curl --silent --globoff --insecure --output /dev/null --write-out '%{http_code}' \
        --max-time "$seconds" "${act[@]:2}" --url "${act[1]}") || true
      [[ $code =~ ^[0-9]+$ ]] && ((code >= 200 && code < 400))
      ;;
    tcp)
      # shellcheck disable=SC2016  # the code is fixed; host and port are its arguments
      timeout "$seconds" bash -c 'exec 3<>"/dev/tcp/$1/$2"' fc-tcp "${act[1]}" "${act[2]}" 2>/dev/null
      ;;
    exec) timeout "$seconds" "$DOCKER" exec "$name" "${act[@]:1}" >/dev/null 2>&1 ;;
    sleep) sleep "$(( act[1] < seconds ? act[1] : seconds ))" ;;
    *) return 1 ;;
  esac
}

# ---- containers ------------------------------------------------------------------------

# Per container I, as the report shows it.
declare -a STATE=() REASON=() MESSAGE=() EXIT=() STARTED_AT=() FINISHED_AT=() LAST=() \
  RESTARTS=() READY=() STARTED=() IMAGE_ID=() CONTAINER_ID=()
# The agent's own bookkeeping: when to start again, the next back-off, whether it ever
# ran, which docker container a liveness kill is waiting for.
declare -a NEXT_START=() DELAY=() FIRST=() HAS_RUN=() KILLING=() TERM_REASON=() PULL_PID=() PULL_SINCE=()
HEALTH_PID=""
declare -A OK=() FAILS=() DUE=()  # per "i_kind": consecutive successes, failures; next run

waiting() {  # waiting I REASON MESSAGE
  STATE[$1]=waiting REASON[$1]=$2 MESSAGE[$1]=$3 READY[$1]=0 STARTED[$1]=0
}

# back_off I WHAT: wait DELAY before the next start, and double DELAY (at most 300 s).
back_off() {
  local i=$1 delay=${DELAY[$1]}
  NEXT_START[i]=$((EPOCHSECONDS + delay))
  DELAY[i]=$((delay * 2 > MAX_BACKOFF ? MAX_BACKOFF : delay * 2))
  MESSAGE[i]="back-off ${delay}s $2 container=${NAMES[i]}"
}

# epoch TIMESTAMP VAR: docker's RFC 3339 time as epoch seconds, or null.
epoch() {
  local value=null
  if [[ $1 =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9:]+)$ && $1 != 0001-* ]]; then
    value=$(date -d "$1" +%s 2>/dev/null) || value=null
  fi
  printf -v "$2" '%s' "$value"
}

follow_logs() {  # follow_logs NAME [--since T]: the container's lines to the serial port
  local name=$1 line
  shift
  {
    "$DOCKER" logs --follow "$@" "$name" 2>&1 | while IFS= read -r line || [[ -n $line ]]; do
      printf 'fc-log %s %s\n' "$name" "$line"
    done >>"$SERIAL"
  } </dev/null &
}

reset_probes() {
  local kind
  for kind in "${PROBE_KINDS[@]}"; do
    OK[${1}_$kind]=0 FAILS[${1}_$kind]=0
    [[ -v TIMING[${1}_$kind] ]] && DUE[${1}_$kind]=$((EPOCHSECONDS + ${TIMING[${1}_$kind]%% *}))
  done
  return 0
}

running() {  # running I STARTED_EPOCH: the container runs; its probes start over
  STATE[$1]=running REASON[$1]="" MESSAGE[$1]="" STARTED_AT[$1]=$2 FINISHED_AT[$1]=null EXIT[$1]=null
  HAS_RUN[$1]=1 KILLING[$1]="" READY[$1]=0 STARTED[$1]=1
  [[ -v TIMING[${1}_startup] ]] && STARTED[$1]=0
  reset_probes "$1"
}

# pulled I: true once container I's image is here. A missing image is pulled in the
# background (the loop, its reports and heartbeats go on: ContainerCreating meanwhile);
# a failed or overlong pull is ErrImagePull, then ImagePullBackOff until the next try.
pulled() {
  local i=$1 image=${IMAGES[$1]} code=0
  if [[ -z ${PULL_PID[i]:-} ]]; then
    "$DOCKER" image inspect -- "$image" >/dev/null 2>&1 && return 0
    "$DOCKER" pull -- "$image" >/dev/null 2>&1 &
    PULL_PID[i]=$! PULL_SINCE[i]=$EPOCHSECONDS
    waiting "$i" ContainerCreating ""
    return 1
  fi
  if kill -0 "${PULL_PID[i]}" 2>/dev/null; then
    ((EPOCHSECONDS - PULL_SINCE[i] < PULL_TIMEOUT)) && return 1
    kill "${PULL_PID[i]}" 2>/dev/null || true
  fi
  wait "${PULL_PID[i]}" 2>/dev/null || code=$?
  PULL_PID[i]=""
  ((code == 0)) && return 0
  log "container ${NAMES[i]}: cannot pull its image"
  waiting "$i" ImagePullBackOff ""
  back_off "$i" "pulling image for"
  return 1
}

start_container() {
  local i=$1 name=${NAMES[$1]} image=${IMAGES[$1]}
  local -n argv="RUN_$1"
  "$DOCKER" rm --force "$name" >/dev/null 2>&1 || true
  pulled "$i" || return 0
  if ! "$DOCKER" "${argv[@]}" >/dev/null; then
    log "container $name: docker run failed"
    waiting "$i" CrashLoopBackOff ""
    back_off "$i" "restarting failed"
    return
  fi
  ((${HAS_RUN[i]:-0})) && RESTARTS[i]=$((RESTARTS[i] + 1))
  running "$i" "$EPOCHSECONDS"
  IMAGE_ID[i]="" CONTAINER_ID[i]=""
  follow_logs "$name"
}

# should_restart EXIT_CODE: by the pod's restartPolicy.
should_restart() {
  [[ $POLICY == Always || ($POLICY == OnFailure && $1 != 0) ]]
}

# exited I CODE OOM STARTED FINISHED: record the termination, then wait or back off.
exited() {
  local i=$1 code=$2 reason=Error
  [[ $code =~ $DIGITS ]] || code=137
  if [[ $3 == true ]]; then reason=OOMKilled; elif ((code == 0)); then reason=Completed; fi
  [[ $4 == null ]] || STARTED_AT[i]=$4
  FINISHED_AT[i]=$5
  [[ $5 == null ]] && FINISHED_AT[i]=$EPOCHSECONDS
  STATE[i]=terminated REASON[i]=$reason MESSAGE[i]="" EXIT[i]=$code READY[i]=0 KILLING[i]=""
  TERM_REASON[i]=$reason
  if ((!TERMINATING)) && should_restart "$code"; then
    [[ ${STARTED_AT[i]} != null ]] && ((FINISHED_AT[i] - STARTED_AT[i] >= BACKOFF_RESET)) && DELAY[i]=$BACKOFF FIRST[i]=1
    LAST[i]="{\"state\":\"terminated\",\"exitCode\":$code,\"reason\":\"$reason\",\"startedAt\":${STARTED_AT[i]},\"finishedAt\":${FINISHED_AT[i]}}"
    if ((FIRST[i])); then  # as the kubelet: the first restart at once, then the back-off
      FIRST[i]=0 NEXT_START[i]=$EPOCHSECONDS
      waiting "$i" ContainerCreating ""
    else
      waiting "$i" CrashLoopBackOff ""
      back_off "$i" "restarting failed"
    fi
  fi
}

# observe I: what docker says of a container that should be running.
observe() {
  local i=$1 info status code started finished image id oom
  [[ ${STATE[i]} == running ]] || return 0
  if ! info=$("$DOCKER" inspect --format \
    '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}} {{.State.StartedAt}} {{.State.FinishedAt}} {{.Image}} {{.Id}}' \
    "${NAMES[i]}" 2>/dev/null); then
    log "container ${NAMES[i]} is gone"
    exited "$i" 137 false null null
    return 0
  fi
  read -r status code oom started finished image id <<<"$info"
  if [[ -z ${CONTAINER_ID[i]} ]]; then
    [[ $id =~ ^[0-9a-f]{64}$ ]] && CONTAINER_ID[i]="docker://$id"
    [[ $image =~ ^sha256:[0-9a-f]{64}$ ]] && IMAGE_ID[i]="docker://$image"
  fi
  case $status in
    exited | dead)
      epoch "$started" started
      epoch "$finished" finished
      exited "$i" "$code" "$oom" "$started" "$finished"
      ;;
  esac
}

# kill_container I WHY: stop it (in the background) and let observe see it exit.
kill_container() {
  local i=$1
  [[ -n ${KILLING[i]} ]] && return 0
  log "container ${NAMES[i]}: $2; killing it"
  KILLING[i]=1
  "$DOCKER" stop --time "$GRACE" "${NAMES[i]}" >/dev/null 2>&1 </dev/null &
}

# probe I: the container's due probes; startup gates liveness and readiness.
probe() {
  local i=$1 kind key delay period timeout successes failures
  [[ ${STATE[i]} == running && -z ${KILLING[i]} ]] || return 0
  for kind in "${PROBE_KINDS[@]}"; do
    key=${i}_$kind
    [[ -v TIMING[$key] ]] || continue
    if [[ $kind == startup ]]; then ((!STARTED[i])) || continue; else ((STARTED[i])) || continue; fi
    ((EPOCHSECONDS >= DUE[$key])) || continue
    read -r delay period timeout successes failures <<<"${TIMING[$key]}"
    if run_action "PROBE_$key" "$timeout" "${NAMES[i]}"; then
      OK[$key]=$((OK[$key] + 1)) FAILS[$key]=0
    else
      FAILS[$key]=$((FAILS[$key] + 1)) OK[$key]=0
    fi
    DUE[$key]=$((EPOCHSECONDS + period))
    case $kind in
      startup)
        ((OK[$key] >= successes)) && STARTED[i]=1
        ((FAILS[$key] >= failures)) && kill_container "$i" "startup probe failed"
        ;;
      liveness) ((FAILS[$key] >= failures)) && kill_container "$i" "liveness probe failed" ;;
      readiness)
        ((OK[$key] >= successes)) && READY[i]=1
        ((FAILS[$key] >= failures)) && READY[i]=0
        ;;
    esac
  done
  [[ -v TIMING[${i}_readiness] ]] || READY[i]=${STARTED[i]}
  return 0
}

# ---- health, services, host ports, termination ---------------------------------------------

# pod_ready: every container ready, and the pod not terminating.
pod_ready() {
  local i
  ((!TERMINATING)) || return 1
  for ((i = 0; i < N; i++)); do
    [[ ${STATE[i]} == running ]] && ((READY[i])) || return 1
  done
}

set_health() {
  if pod_ready; then
    [[ -e $HEALTH_DIR/healthz ]] || printf 'ok\n' >"$HEALTH_DIR/healthz"
  else
    rm -f "$HEALTH_DIR/healthz"
  fi
}

# ensure_health_server: busybox httpd serves HEALTH_DIR on 10256 (kube-proxy's port).
ensure_health_server() {
  [[ $("$DOCKER" inspect --format '{{.State.Running}}' "$HEALTH_NAME" 2>/dev/null) == true ]] && return 0
  # Started beside the loop: its first start pulls busybox, and reports must not wait.
  [[ -n $HEALTH_PID ]] && kill -0 "$HEALTH_PID" 2>/dev/null && return 0
  {
    "$DOCKER" rm --force "$HEALTH_NAME" >/dev/null 2>&1 || true
    "$DOCKER" run --detach --network=host --restart=always --name "$HEALTH_NAME" \
      --volume "$HEALTH_DIR:/www:ro" "$HEALTH_IMAGE" httpd -f -p 10256 -h /www >/dev/null ||
      log "cannot start the health server; trying again"
  } &
  HEALTH_PID=$!
}

# ports_ok PORT TARGET: both are port numbers (1-65535; leading zeros allowed).
ports_ok() {
  ((10#$1 >= 1 && 10#$1 <= 65535 && 10#$2 >= 1 && 10#$2 <= 65535))
}

# service_rules: the valid fc-svc-* lines, one "proto port target ip" each, sorted by key.
service_rules() {
  local key value line proto ip port target octets
  local -a keys=()
  for key in "${!KEYS[@]}"; do
    [[ $key == fc-svc-* ]] && keys+=("$key")
  done
  ((${#keys[@]})) || return 0
  while IFS= read -r key; do
    if ! [[ $key =~ ^fc-svc-[0-9a-z]{10}$ ]]; then
      log "ignoring a service port key that is not fc-svc- and 10 base36 characters"
      continue
    fi
    get "$key" value || continue
    while IFS= read -r line; do
      [[ -z $line ]] && continue
      if [[ $line =~ ^(tcp|udp)\ (([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3}))\ ([0-9]{1,5})\ ([0-9]{1,5})$ ]]; then
        proto=${BASH_REMATCH[1]} ip=${BASH_REMATCH[2]} port=${BASH_REMATCH[7]} target=${BASH_REMATCH[8]}
        octets=$((10#${BASH_REMATCH[3]} | 10#${BASH_REMATCH[4]} | 10#${BASH_REMATCH[5]} | 10#${BASH_REMATCH[6]}))
        if ((octets < 256)) && ports_ok "$port" "$target"; then
          printf '%s %d %d %s\n' "$proto" "$((10#$port))" "$((10#$target))" "$ip"
          continue
        fi
      fi
      log "$key: ignoring a line that is not 'tcp|udp LB_IP PORT TARGET_PORT'"
    done <<<"$value"
  done < <(printf "%s\n" "${keys[@]}" | LC_ALL=C sort)
}

# host_port_rules VALUE: fc-host-ports' valid lines, one "proto port target" each.
host_port_rules() {
  local line proto port target
  while IFS= read -r line; do
    [[ -z $line ]] && continue
    if [[ $line =~ ^(tcp|udp)\ ([0-9]{1,5})\ ([0-9]{1,5})$ ]]; then
      proto=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]} target=${BASH_REMATCH[3]}
      if ports_ok "$port" "$target"; then
        printf '%s %d %d\n' "$proto" "$((10#$port))" "$((10#$target))"
        continue
      fi
    fi
    log "fc-host-ports: ignoring a line that is not 'tcp|udp HOST_PORT CONTAINER_PORT'"
  done <<<"$1"
}

# nat_chain CHAIN RULES: the nat chain CHAIN, hooked into PREROUTING, holds exactly
# RULES, "proto port target [ip]" per line: REDIRECT of PORT (to IP only, when given)
# to TARGET. Status 1 (logged) if iptables refuses a step.
nat_chain() {
  local chain=$1 proto port target ip
  local -a to
  "$IPTABLES" -t nat -N "$chain" 2>/dev/null || true
  "$IPTABLES" -t nat -C PREROUTING -j "$chain" 2>/dev/null ||
    "$IPTABLES" -t nat -A PREROUTING -j "$chain" || { log "cannot hook $chain into PREROUTING"; return 1; }
  "$IPTABLES" -t nat -F "$chain" || { log "cannot flush $chain"; return 1; }
  while read -r proto port target ip; do
    [[ -n $proto ]] || continue
    to=()
    [[ -n $ip ]] && to=(-d "$ip")
    "$IPTABLES" -t nat -A "$chain" "${to[@]}" -p "$proto" --dport "$port" -j REDIRECT --to-ports "$target" ||
      { log "cannot add a rule to $chain"; return 1; }
  done <<<"$2"
}

APPLIED_RULES="not yet"
sync_services() {
  local rules
  rules=$(service_rules)
  [[ $rules == "$APPLIED_RULES" ]] && return 0
  nat_chain "$CHAIN" "$rules" || return 0
  APPLIED_RULES=$rules
  log "service ports: $(grep -c . <<<"$rules" || true) rules"
}

# sync_host_ports: the pod's hostPorts (fixed, as its spec) once, in a chain of their
# own hooked after the services' (sync_services runs first), so a load balancer's rule,
# which names its address, wins over a hostPort of the same number.
HOST_RULES="" HOST_APPLIED=0
sync_host_ports() {
  [[ -n $HOST_RULES ]] && ((!HOST_APPLIED)) || return 0
  nat_chain "$HOST_CHAIN" "$HOST_RULES" || return 0
  HOST_APPLIED=1
  log "host ports: $(grep -c . <<<"$HOST_RULES" || true) rules"
}

# terminate: not Ready; every preStop (in parallel), then docker stop with what is left
# of the grace period; every container terminated, nothing restarted (§2 Termination).
terminate() {
  local grace i remaining
  local -a pids=()
  TERMINATING=1
  for ((i = 0; i < N; i++)); do
    READY[i]=0
  done
  set_health
  get fc-terminate grace || grace=$GRACE
  [[ $grace =~ $DIGITS ]] || grace=$GRACE
  log "terminating: grace ${grace}s"
  report force
  local deadline=$((EPOCHSECONDS + grace))
  for ((i = 0; i < N; i++)); do
    if [[ ${STATE[i]} == running && -v PRESTOP_$i ]]; then
      run_action "PRESTOP_$i" "$((grace > 0 ? grace : 1))" "${NAMES[i]}" </dev/null &
      pids+=("$!")
    fi
  done
  wait_all "${pids[@]}"
  pids=()
  remaining=$((deadline - EPOCHSECONDS))
  ((remaining > 0)) || remaining=0
  for ((i = 0; i < N; i++)); do
    if [[ ${STATE[i]} == running ]]; then
      "$DOCKER" stop --time "$remaining" "${NAMES[i]}" >/dev/null 2>&1 </dev/null &
      pids+=("$!")
    fi
  done
  wait_all "${pids[@]}"
  for ((i = 0; i < N; i++)); do
    observe "$i"
    if [[ ${STATE[i]} == waiting ]]; then  # backing off: its last termination stands
      STATE[i]=terminated MESSAGE[i]="" REASON[i]=${TERM_REASON[i]:-Error}
      if [[ -z ${LAST[i]} ]]; then  # it never ran
        REASON[i]=ContainerStatusUnknown EXIT[i]=137 STARTED_AT[i]=null FINISHED_AT[i]=$EPOCHSECONDS
      fi
    elif [[ ${STATE[i]} == running ]]; then  # docker would not say it stopped
      exited "$i" 137 false null null
    fi
  done
}

wait_all() {  # wait_all PID...: each of them, whatever their status
  local pid
  for pid in "$@"; do
    wait "$pid" 2>/dev/null || true
  done
}

# ---- reports -----------------------------------------------------------------------------

str() { if [[ -n $1 ]]; then printf '"%s"' "$1"; else printf null; fi; }

container_json() {
  local i=$1 exit=null started=null finished=null
  case ${STATE[i]} in
    running) started=${STARTED_AT[i]} ;;
    terminated) exit=${EXIT[i]} started=${STARTED_AT[i]} finished=${FINISHED_AT[i]} ;;
  esac
  printf '{"name":"%s","state":"%s","reason":%s,"message":%s,"exitCode":%s,"signal":null,' \
    "${NAMES[i]}" "${STATE[i]}" "$(str "${REASON[i]}")" "$(str "${MESSAGE[i]}")" "$exit"
  printf '"startedAt":%s,"finishedAt":%s,"lastState":%s,"restartCount":%d,"ready":%s,"started":%s,' \
    "$started" "$finished" "${LAST[i]:-null}" "${RESTARTS[i]}" \
    "$( ((READY[i])) && echo true || echo false)" "$( ((STARTED[i])) && echo true || echo false)"
  printf '"imageID":"%s","containerID":"%s"}' "${IMAGE_ID[i]}" "${CONTAINER_ID[i]}"
}

SEQUENCE=0 SENT="" NEXT_REPORT=0
BOOT=$(printf '%x%x' "${SRANDOM:-$RANDOM}" "${SRANDOM:-$RANDOM}")

# report [force]: POST the pod's status when it changed, or when the heartbeat is due.
report() {
  local body i token reply
  [[ -n $STATUS_URL ]] || return 0
  body="\"terminating\":$( ((TERMINATING)) && echo true || echo false),\"containers\":["
  for ((i = 0; i < N; i++)); do
    ((i == 0)) || body+=,
    body+=$(container_json "$i")
  done
  body+="]}"
  if [[ ${1:-} != force && $body == "$SENT" ]] && ((EPOCHSECONDS < NEXT_REPORT)); then
    return 0
  fi
  SEQUENCE=$((SEQUENCE + 1))
  SENT=$body NEXT_REPORT=$((EPOCHSECONDS + HEARTBEAT))
  if ! token=$(curl --silent --fail --max-time 10 -H 'Metadata-Flavor: Google' --get \
    --data-urlencode "audience=$STATUS_URL" --data-urlencode format=full \
    "$METADATA/instance/service-accounts/default/identity") || ! [[ $token =~ ^[A-Za-z0-9._-]+$ ]]; then
    log "cannot get an identity token; reporting again in 5s"
    SENT="" NEXT_REPORT=$((EPOCHSECONDS + 5))
    return 0
  fi
  body="{\"pod\":\"$POD\",\"boot\":\"$BOOT\",\"sequence\":$SEQUENCE,$body"
  reply=$(printf 'Authorization: Bearer %s\n' "$token" | curl --silent --output /dev/null \
    --write-out '%{http_code}' --max-time 10 --header @- --header 'Content-Type: application/json' \
    --data-binary "$body" --url "$STATUS_URL") || true
  if [[ $reply != 200 ]]; then
    log "report $SEQUENCE: pod_status answered ${reply:-nothing}"
    [[ $reply =~ ^(000|5[0-9][0-9]|429)?$ ]] && SENT="" NEXT_REPORT=$((EPOCHSECONDS + 5))
  fi
  return 0
}

# ---- main --------------------------------------------------------------------------------

TERMINATING=0

main() {
  local i info now last_slow=0
  load_spec
  mkdir -p "$HEALTH_DIR"
  rm -f "$HEALTH_DIR/healthz"
  for ((i = 0; i < N; i++)); do
    RESTARTS[i]=0 DELAY[i]=$BACKOFF FIRST[i]=1 HAS_RUN[i]=0 LAST[i]="" IMAGE_ID[i]="" CONTAINER_ID[i]="" EXIT[i]=null
    STARTED_AT[i]=null FINISHED_AT[i]=null KILLING[i]="" NEXT_START[i]=0
    waiting "$i" ContainerCreating ""
    # A container from this agent's previous run (systemd restarted it) is kept.
    info=$("$DOCKER" inspect --format '{{.State.Running}} {{.State.StartedAt}}' "${NAMES[i]}" 2>/dev/null) || info=""
    if [[ $info == "true "* ]]; then
      epoch "${info#true }" now
      running "$i" "$([[ $now == null ]] && echo "$EPOCHSECONDS" || echo "$now")"
      follow_logs "${NAMES[i]}" --since "$EPOCHSECONDS"
    fi
  done
  log "pod $POD: $N containers, restartPolicy $POLICY, boot $BOOT"
  while true; do
    if list_keys && has fc-terminate && ((!TERMINATING)); then
      terminate
    fi
    if ((EPOCHSECONDS - last_slow >= SLOW_EVERY)); then
      last_slow=$EPOCHSECONDS
      ensure_health_server
      sync_services
      sync_host_ports
    fi
    if ((!TERMINATING)); then
      for ((i = 0; i < N; i++)); do
        observe "$i"
        if [[ ${STATE[i]} == waiting ]] && ((EPOCHSECONDS >= NEXT_START[i])); then
          start_container "$i"
        fi
        probe "$i"
      done
    fi
    set_health
    report
    sleep "$TICK"
  done
}

main "$@"
