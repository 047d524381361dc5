#!/bin/bash
# Variables here are assigned by get and count, through printf -v:
# shellcheck disable=SC2154
# firecontrol pod launcher: start this VM's containers from its instance metadata.
#
# This file is the same on every VM and contains no user input. Every value a user
# wrote (image, command, args, env) is read from the metadata server into a shell
# variable and handed to docker as exactly one argv element: nothing is evaluated,
# split or globbed, and trailing newlines survive.
set -euo pipefail

METADATA=${FIRECONTROL_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1/instance/attributes}
DOCKER=${FIRECONTROL_DOCKER:-docker}

# get KEY VAR: the attribute's exact value into VAR; fail if it cannot be read.
# (The local's odd name keeps it from shadowing the caller's VAR.)
get() {
  local __fc_got
  __fc_got=$(curl --silent --fail --show-error -H 'Metadata-Flavor: Google' "$METADATA/$1" && printf x) \
    || { echo "firecontrol: cannot read metadata attribute $1" >&2; exit 1; }
  printf -v "$2" '%s' "${__fc_got%x}"
}

# count KEY VAR: a count the functions wrote; a digit string or nothing.
count() {
  get "$1" "$2"
  [[ ${!2} =~ ^[0-9]+$ ]] || { echo "firecontrol: $1 is not a count" >&2; exit 1; }
}

count fc-containers containers
get fc-restart-policy restart
for ((i = 0; i < containers; i++)); do
  get "fc-c$i-name" name
  get "fc-c$i-image" image
  argv=(run --detach --network=host --name "$name" --restart "$restart")
  count "fc-c$i-env" envs
  for ((j = 0; j < envs; j++)); do
    get "fc-c$i-env$j-name" key
    get "fc-c$i-env$j-value" value
    argv+=(--env "$key=$value")
  done
  count "fc-c$i-command" words
  command=()
  for ((j = 0; j < words; j++)); do
    get "fc-c$i-command$j" word
    command+=("$word")
  done
  if ((words > 0)); then
    argv+=(--entrypoint "${command[0]}")
  fi
  argv+=(-- "$image")
  if ((words > 1)); then
    argv+=("${command[@]:1}")
  fi
  count "fc-c$i-args" nargs
  for ((j = 0; j < nargs; j++)); do
    get "fc-c$i-arg$j" word
    argv+=("$word")
  done
  "$DOCKER" rm --force "$name" >/dev/null 2>&1 || true
  "$DOCKER" "${argv[@]}"
done
