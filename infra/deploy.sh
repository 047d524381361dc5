#!/usr/bin/env bash
# Deploy firecontrol with gcloud: the same system as infra/terraform, from the same
# definition of the functions (infra/functions.yaml, read through infra/spec.py).
#
#   infra/deploy.sh --project PROJECT [--region us-central1] [--zone us-central1-a]
#                   [--cluster firecontrol] [--max-replicas 100] [--schedule CRON]
#                   [--firestore-location LOCATION] [--dry-run]
#
# Every step reads what is there first and changes only what is missing or differs,
# so a second run changes nothing. Every command is printed ("+ ..."); --dry-run runs
# none of them and prints what a first run would do.
# Needs gcloud, curl, and python3 with PyYAML (PYTHON=...; the repo's .venv by default).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
export CLOUDSDK_CORE_DISABLE_PROMPTS=1

PROJECT=""
REGION=us-central1
ZONE=us-central1-a
CLUSTER=firecontrol
MAX_REPLICAS=100
SCHEDULE=""
FIRESTORE_LOCATION=""
DRY_RUN=false

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "deploy.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --zone) ZONE=${2:?--zone needs a value}; shift 2 ;;
    --cluster) CLUSTER=${2:?--cluster needs a value}; shift 2 ;;
    --max-replicas) MAX_REPLICAS=${2:?--max-replicas needs a value}; shift 2 ;;
    --schedule) SCHEDULE=${2:?--schedule needs a value}; shift 2 ;;
    --firestore-location) FIRESTORE_LOCATION=${2:?--firestore-location needs a value}; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -n "$PROJECT" ] || { usage >&2; die "--project is required"; }
[[ $CLUSTER =~ ^[a-z][a-z0-9-]{0,14}[a-z0-9]$ ]] || die "--cluster: 2 to 16 lower-case letters, digits and '-', starting with a letter"
[[ $MAX_REPLICAS =~ ^[0-9]+$ ]] && [ "$MAX_REPLICAS" -le 10000 ] || die "--max-replicas: a whole number from 0 to 10000"
FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-$REGION}

# The same names as infra/terraform.
DATABASE="(default)"
BUCKET="$PROJECT-$CLUSTER-source"
ROLE_ID="firecontrolFirewalls_${CLUSTER//-/_}"
SA_IDS=(runtime trigger scheduler build)
sa_email() { echo "$CLUSTER-$1@$PROJECT.iam.gserviceaccount.com"; }
APIS=(
  artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com
  cloudresourcemanager.googleapis.com cloudscheduler.googleapis.com compute.googleapis.com
  eventarc.googleapis.com firebaserules.googleapis.com firestore.googleapis.com
  iam.googleapis.com logging.googleapis.com pubsub.googleapis.com run.googleapis.com
  storage.googleapis.com
)
# "account role" pairs granted on the project; invocation is granted per function.
PROJECT_ROLES=(
  "runtime roles/datastore.user"
  "runtime roles/compute.instanceAdmin.v1"
  "runtime roles/compute.loadBalancerAdmin"
  "runtime projects/$PROJECT/roles/$ROLE_ID"
  "trigger roles/eventarc.eventReceiver"
  "build roles/logging.logWriter"
  "build roles/artifactregistry.writer"
)
FIREWALL_PERMISSIONS=compute.firewalls.create,compute.firewalls.delete,compute.firewalls.get,compute.firewalls.list,compute.firewalls.update,compute.networks.updatePolicy
ENV_VARS="GOOGLE_CLOUD_PROJECT=$PROJECT,FIRECONTROL_REGION=$REGION,FIRECONTROL_ZONE=$ZONE,FIRECONTROL_CLUSTER=$CLUSTER,FIRECONTROL_MAX_REPLICAS=$MAX_REPLICAS,CLOUD_PROVIDER=gce"
RULES_API=https://firebaserules.googleapis.com/v1

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
exec 3>&1  # commands are printed on fd 3, so reads can be captured without them

show() { printf '+' >&3; printf ' %q' "$@" >&3; printf '\n' >&3; }
# A command that changes something: printed, and run unless --dry-run.
change() { show "$@"; if ! $DRY_RUN; then "$@"; fi; }
# A command that only reads: printed, and run unless --dry-run, where it reads as
# "nothing there" (no output, failure), so a dry run shows everything a first run does.
look() { show "$@"; if $DRY_RUN; then return 1; fi; "$@" 2>"$WORK/look.err"; }
step() { echo "== $*" >&3; }

# The JSON policy in file $1 grants role $2 to member $3 (unconditionally).
has_binding() {
  "$PYTHON" - "$@" <<'PY'
import json, sys
policy = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
ok = any(b.get("role") == sys.argv[2] and sys.argv[3] in b.get("members", []) and not b.get("condition")
         for b in policy.get("bindings", []))
sys.exit(0 if ok else 1)
PY
}

SPEC=$("$PYTHON" "$HERE/spec.py" functions)
RUNTIME=$("$PYTHON" "$HERE/spec.py" runtime)
[ -n "$SPEC" ] || die "infra/functions.yaml defines no function"

step "APIs"
enabled=$(look gcloud services list --enabled --project="$PROJECT" --format="value(config.name)") || enabled=""
missing=()
for api in "${APIS[@]}"; do
  grep -qxF "$api" <<<"$enabled" || missing+=("$api")
done
[ ${#missing[@]} -eq 0 ] || change gcloud services enable "${missing[@]}" --project="$PROJECT"

step "Firestore database $DATABASE (native mode, $FIRESTORE_LOCATION)"
if ! look gcloud firestore databases describe --database="$DATABASE" --project="$PROJECT" --format="value(name)" >/dev/null; then
  change gcloud firestore databases create --database="$DATABASE" --location="$FIRESTORE_LOCATION" \
    --type=firestore-native --delete-protection --enable-pitr --project="$PROJECT"
fi

step "TTL policy: events.expireAt"
ttls=$(look gcloud firestore fields ttls list --collection-group=events --database="$DATABASE" \
  --project="$PROJECT" --format="value(name)") || ttls=""
if ! grep -q '/fields/expireAt$' <<<"$ttls"; then
  change gcloud firestore fields ttls update expireAt --collection-group=events --database="$DATABASE" \
    --enable-ttl --async --project="$PROJECT"
fi

step "Firestore security rules (infra/firestore.rules)"
# gcloud has no command for rules: the Firebase Rules REST API, with gcloud's token in
# a header file so it is never printed.
AUTH="$WORK/auth-header"
token=$(look gcloud auth print-access-token) || token=""
(umask 077; printf 'Authorization: Bearer %s\n' "$token" >"$AUTH")
release=$(look curl -fsS -H "@$AUTH" "$RULES_API/projects/$PROJECT/releases/cloud.firestore") || release=""
current=""
if [ -n "$release" ]; then
  ruleset=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["rulesetName"])' "$release")
  current=$(look curl -fsS -H "@$AUTH" "$RULES_API/$ruleset") || current=""
fi
if ! "$PYTHON" -c 'import json, sys; files = json.loads(sys.argv[1] or "{}").get("source", {}).get("files", []); sys.exit(0 if [f.get("content") for f in files] == [open(sys.argv[2]).read()] else 1)' "$current" "$HERE/firestore.rules"; then
  "$PYTHON" -c 'import json, sys; print(json.dumps({"source": {"files": [{"name": "firestore.rules", "content": open(sys.argv[1]).read()}]}}))' \
    "$HERE/firestore.rules" >"$WORK/ruleset.json"
  created=$(change curl -fsS -X POST -H "@$AUTH" -H "Content-Type: application/json" \
    --data "@$WORK/ruleset.json" "$RULES_API/projects/$PROJECT/rulesets") || die "creating the ruleset failed"
  if $DRY_RUN; then name="projects/$PROJECT/rulesets/NEW_RULESET"; else
    name=$("$PYTHON" -c 'import json, sys; print(json.loads(sys.argv[1])["name"])' "$created")
  fi
  body="{\"name\": \"projects/$PROJECT/releases/cloud.firestore\", \"rulesetName\": \"$name\"}"
  if [ -n "$release" ]; then
    change curl -fsS -X PATCH -H "@$AUTH" -H "Content-Type: application/json" \
      --data "{\"release\": $body}" "$RULES_API/projects/$PROJECT/releases/cloud.firestore" >/dev/null
  else
    change curl -fsS -X POST -H "@$AUTH" -H "Content-Type: application/json" \
      --data "$body" "$RULES_API/projects/$PROJECT/releases" >/dev/null
  fi
fi

step "Service accounts"
for id in "${SA_IDS[@]}"; do
  if ! look gcloud iam service-accounts describe "$(sa_email "$id")" --project="$PROJECT" --format="value(email)" >/dev/null; then
    change gcloud iam service-accounts create "$CLUSTER-$id" --display-name="firecontrol $CLUSTER: $id" --project="$PROJECT"
  fi
done
if ! look gcloud iam roles describe "$ROLE_ID" --project="$PROJECT" --format="value(name)" >/dev/null; then
  change gcloud iam roles create "$ROLE_ID" --project="$PROJECT" --title="firecontrol $CLUSTER: firewall rules" \
    --permissions="$FIREWALL_PERMISSIONS" --stage=GA
fi

step "Project roles"
look gcloud projects get-iam-policy "$PROJECT" --format=json >"$WORK/project-policy.json" || : >"$WORK/project-policy.json"
for pair in "${PROJECT_ROLES[@]}"; do
  read -r id role <<<"$pair"
  member="serviceAccount:$(sa_email "$id")"
  if ! has_binding "$WORK/project-policy.json" "$role" "$member"; then
    change gcloud projects add-iam-policy-binding "$PROJECT" --member="$member" --role="$role" \
      --condition=None --format=none
  fi
done

step "Source bucket gs://$BUCKET and archive"
if ! look gcloud storage buckets describe "gs://$BUCKET" --format="value(name)" >/dev/null; then
  echo '{"rule": [{"action": {"type": "Delete"}, "condition": {"age": 30}}]}' >"$WORK/lifecycle.json"
  change gcloud storage buckets create "gs://$BUCKET" --project="$PROJECT" --location="$REGION" \
    --uniform-bucket-level-access --public-access-prevention --lifecycle-file="$WORK/lifecycle.json"
  change gcloud storage buckets update "gs://$BUCKET" --versioning
fi
look gcloud storage buckets get-iam-policy "gs://$BUCKET" --format=json >"$WORK/bucket-policy.json" || : >"$WORK/bucket-policy.json"
if ! has_binding "$WORK/bucket-policy.json" roles/storage.objectViewer "serviceAccount:$(sa_email build)"; then
  change gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" \
    --member="serviceAccount:$(sa_email build)" --role=roles/storage.objectViewer
fi
ARCHIVE=$("$PYTHON" "$HERE/spec.py" archive "$WORK")
OBJECT="gs://$BUCKET/$(basename "$ARCHIVE")"
if ! look gcloud storage objects describe "$OBJECT" --format="value(name)" >/dev/null; then
  change gcloud storage cp "$ARCHIVE" "$OBJECT"
fi

step "Functions"
while IFS=$'\t' read -r -u 4 entry name type event document retry memory timeout max_instances schedule; do
  args=(--gen2 --region="$REGION" --project="$PROJECT" --runtime="$RUNTIME" --source="$OBJECT"
    --entry-point="$entry" --memory="$memory" --timeout="${timeout}s" --max-instances="$max_instances"
    --min-instances=0 --service-account="$(sa_email runtime)"
    --build-service-account="projects/$PROJECT/serviceAccounts/$(sa_email build)"
    --set-env-vars="$ENV_VARS" --ingress-settings=internal-only --no-allow-unauthenticated)
  if [ "$type" = firestore ]; then
    args+=(--trigger-location="$FIRESTORE_LOCATION" --trigger-event-filters="type=$event"
      --trigger-event-filters="database=$DATABASE" --trigger-event-filters-path-pattern="document=$document"
      --trigger-service-account="$(sa_email trigger)")
    [ "$retry" = true ] && args+=(--retry)
  else
    args+=(--trigger-http)
  fi
  # The deployed function carries a hash of how it was deployed: equal means up to date.
  config=$(printf '%s\n' "${args[@]}" | sha256sum | cut -c1-16)
  deployed=$(look gcloud functions describe "$name" --region="$REGION" --project="$PROJECT" \
    --format="value(labels.firecontrol-config)") || deployed=""
  if [ "$deployed" != "$config" ]; then
    change gcloud functions deploy "$name" "${args[@]}" \
      --update-labels="firecontrol-cluster=$CLUSTER,firecontrol-config=$config"
  fi

  # Who may invoke it: Eventarc's account a Firestore-triggered one, the scheduler's a scheduled one.
  if [ "$type" = firestore ]; then invoker=trigger; elif [ "$schedule" != - ]; then invoker=scheduler; else continue; fi
  look gcloud run services get-iam-policy "$name" --region="$REGION" --project="$PROJECT" --format=json \
    >"$WORK/run-policy.json" || : >"$WORK/run-policy.json"
  if ! has_binding "$WORK/run-policy.json" roles/run.invoker "serviceAccount:$(sa_email "$invoker")"; then
    change gcloud functions add-invoker-policy-binding "$name" --region="$REGION" --project="$PROJECT" \
      --member="serviceAccount:$(sa_email "$invoker")"
  fi

  if [ "$schedule" != - ]; then
    step "Cloud Scheduler job $CLUSTER-$name"
    [ "$entry" = resync ] && [ -n "$SCHEDULE" ] && schedule=$SCHEDULE
    uri=$(look gcloud functions describe "$name" --region="$REGION" --project="$PROJECT" \
      --format="value(serviceConfig.uri)") || uri="https://$name-URL.a.run.app"
    job=(--location="$REGION" --project="$PROJECT" --schedule="$schedule" --time-zone=Etc/UTC
      --uri="$uri" --http-method=post --attempt-deadline="${timeout}s" --max-retry-attempts=0
      --oidc-service-account-email="$(sa_email scheduler)" --oidc-token-audience="$uri")
    have=$(look gcloud scheduler jobs describe "$CLUSTER-$name" --location="$REGION" --project="$PROJECT" \
      --format="value(schedule,httpTarget.uri,httpTarget.oidcToken.serviceAccountEmail)") || have=""
    if [ -z "$have" ]; then
      change gcloud scheduler jobs create http "$CLUSTER-$name" "${job[@]}"
    elif [ "$have" != "$schedule"$'\t'"$uri"$'\t'"$(sa_email scheduler)" ]; then
      change gcloud scheduler jobs update http "$CLUSTER-$name" "${job[@]}"
    fi
  fi
done 4<<<"$SPEC"

step finished
$DRY_RUN && echo "(dry run: nothing was changed)" >&3
exit 0
