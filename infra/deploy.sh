#!/usr/bin/env bash
# Deploy firecontrol with gcloud: the same system as infra/terraform, from the same
# definitions (infra/functions.yaml and infra/iam.yaml, read through infra/spec.py).
#
#   infra/deploy.sh --project PROJECT [--region us-central1] [--zone us-central1-a]
#                   [--cluster firecontrol] [--database CLUSTER] [--max-replicas 100]
#                   [--schedule CRON] [--firestore-location LOCATION] [--external-ips]
#                   [--no-nat] [--agent-heartbeat 60] [--heartbeat-timeout 180]
#                   [--eviction-timeout 300] [--kube-api-invokers MEMBERS] [--dry-run]
#
# --kube-api-invokers (or FIRECONTROL_KUBE_API_INVOKERS): who may call the Kubernetes API
# (kubectl), comma-separated IAM members such as user:me@example.com,group:ops@example.com;
# granted roles/run.invoker on the kube-api function only (the deployer, as owner, may
# call it already). Never allUsers or allAuthenticatedUsers.
#
# Every step reads what is there first and changes only what is missing or differs,
# so a second run changes nothing. Every command is printed ("+ ..."); --dry-run runs
# none of them and prints what a first run would do. Every name carries the cluster,
# so installations with different clusters (and databases) share a project apart.
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
DATABASE=""
MAX_REPLICAS=100
SCHEDULE=""
FIRESTORE_LOCATION=""
EXTERNAL_IPS=false
NAT=true
DRY_RUN=false
AGENT_HEARTBEAT=60
HEARTBEAT_TIMEOUT=180
EVICTION_TIMEOUT=300
# The VPC network the pods' VMs use (functions/cloudprovider/config.py: "default").
NETWORK=default
KUBE_API_INVOKERS=${FIRECONTROL_KUBE_API_INVOKERS:-}

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "deploy.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
    --region) REGION=${2:?--region needs a value}; shift 2 ;;
    --zone) ZONE=${2:?--zone needs a value}; shift 2 ;;
    --cluster) CLUSTER=${2:?--cluster needs a value}; shift 2 ;;
    --database) DATABASE=${2:?--database needs a value}; shift 2 ;;
    --max-replicas) MAX_REPLICAS=${2:?--max-replicas needs a value}; shift 2 ;;
    --schedule) SCHEDULE=${2:?--schedule needs a value}; shift 2 ;;
    --firestore-location) FIRESTORE_LOCATION=${2:?--firestore-location needs a value}; shift 2 ;;
    --external-ips) EXTERNAL_IPS=true; shift ;;
    --no-nat) NAT=false; shift ;;
    --agent-heartbeat) AGENT_HEARTBEAT=${2:?--agent-heartbeat needs a value}; shift 2 ;;
    --heartbeat-timeout) HEARTBEAT_TIMEOUT=${2:?--heartbeat-timeout needs a value}; shift 2 ;;
    --eviction-timeout) EVICTION_TIMEOUT=${2:?--eviction-timeout needs a value}; shift 2 ;;
    --kube-api-invokers) KUBE_API_INVOKERS=${2?--kube-api-invokers needs a value}; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -n "$PROJECT" ] || { usage >&2; die "--project is required"; }
# No '-' in a cluster: the runtime's IAM conditions admit names starting with "{cluster}-",
# which for a cluster "prod" would also admit every resource of a cluster "prod-eu".
[[ $CLUSTER =~ ^[a-z][a-z0-9]{1,15}$ ]] ||
  die "--cluster: '$CLUSTER' must be 2 to 16 lower-case letters and digits, starting with a letter, and no '-' (the runtime's IAM conditions admit names starting with '<cluster>-': with a '-', one cluster's prefix would cover another's names)"
[[ $MAX_REPLICAS =~ ^[0-9]+$ ]] && [ "$MAX_REPLICAS" -le 10000 ] || die "--max-replicas: a whole number from 0 to 10000"
# The agents' settings (functions/config.py reads them): whole seconds.
[[ $AGENT_HEARTBEAT =~ ^[0-9]+$ ]] && [ "$AGENT_HEARTBEAT" -ge 1 ] && [ "$AGENT_HEARTBEAT" -le 3600 ] ||
  die "--agent-heartbeat: whole seconds from 1 to 3600"
[[ $HEARTBEAT_TIMEOUT =~ ^[0-9]+$ ]] && [ "$HEARTBEAT_TIMEOUT" -ge 1 ] && [ "$HEARTBEAT_TIMEOUT" -le 86400 ] ||
  die "--heartbeat-timeout: whole seconds from 1 to 86400"
[[ $EVICTION_TIMEOUT =~ ^[0-9]+$ ]] && [ "$EVICTION_TIMEOUT" -le 86400 ] || die "--eviction-timeout: whole seconds from 0 to 86400"
[ "$HEARTBEAT_TIMEOUT" -ge $((2 * AGENT_HEARTBEAT)) ] ||
  die "--heartbeat-timeout must be at least twice --agent-heartbeat: one late heartbeat would make a pod Unknown"
# Each installation has a Firestore database of its own, named after its cluster.
DATABASE=${DATABASE:-$CLUSTER}
[[ $DATABASE == "(default)" || $DATABASE =~ ^[a-z][a-z0-9-]{2,61}[a-z0-9]$ ]] ||
  die "--database: 4 to 63 lower-case letters, digits and '-', starting with a letter (a cluster name shorter than 4 needs --database)"
FIRESTORE_LOCATION=${FIRESTORE_LOCATION:-$REGION}
# Who may call the `invoker: users` functions (kube_api): checked IAM members, one a line.
USER_INVOKERS=$("$PYTHON" "$HERE/spec.py" invokers "$KUBE_API_INVOKERS" 2>&1) ||
  die "--kube-api-invokers: ${USER_INVOKERS#spec.py: }"
$EXTERNAL_IPS && NAT=false  # VMs with external IPs reach the internet without NAT

# The same names as infra/terraform: every one carries the cluster.
BUCKET="$PROJECT-$CLUSTER-source"
SA_IDS=(runtime status trigger scheduler build pods)
sa_email() { echo "$CLUSTER-$1@$PROJECT.iam.gserviceaccount.com"; }
ROUTER="$CLUSTER-router"
NAT_NAME="$CLUSTER-nat"
if [ "$DATABASE" = "(default)" ]; then RELEASE=cloud.firestore; else RELEASE="cloud.firestore/$DATABASE"; fi
APIS=(
  artifactregistry.googleapis.com cloudbuild.googleapis.com cloudfunctions.googleapis.com
  cloudresourcemanager.googleapis.com cloudscheduler.googleapis.com compute.googleapis.com
  eventarc.googleapis.com firebaserules.googleapis.com firestore.googleapis.com
  iam.googleapis.com logging.googleapis.com pubsub.googleapis.com run.googleapis.com
  storage.googleapis.com
)
# The runtime's custom roles (infra/iam.yaml): key, role id, title, permissions, condition.
ROLES=$("$PYTHON" "$HERE/spec.py" roles "$PROJECT" "$REGION" "$CLUSTER" "$NETWORK" "$DATABASE")
DATABASE_CONDITION=$("$PYTHON" "$HERE/spec.py" database-condition "$PROJECT" "$REGION" "$CLUSTER" "$NETWORK" "$DATABASE")
# "account role" pairs granted on the project without a condition; the runtime's are
# conditioned (below), invocation is granted per function, the pods' account has none.
PROJECT_ROLES=(
  "trigger roles/eventarc.eventReceiver"
  "build roles/logging.logWriter"
  "build roles/artifactregistry.writer"
)
# What earlier versions granted the runtime on the whole project: revoked.
STALE_RUNTIME_ROLES=(
  roles/datastore.user roles/compute.instanceAdmin.v1 roles/compute.loadBalancerAdmin
  "projects/$PROJECT/roles/firecontrolFirewalls_${CLUSTER//-/_}"
)
RULES_API=https://firebaserules.googleapis.com/v1
FIRESTORE_API=https://firestore.googleapis.com/v1

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

# The JSON policy in file $1 grants role $2 to member $3: unconditionally, or with the
# condition in JSON file $4 (same title and expression).
has_binding() {
  "$PYTHON" - "$@" <<'PY'
import json, sys
policy = json.load(open(sys.argv[1])) if open(sys.argv[1]).read().strip() else {}
want = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
def same(condition):
    if want is None:
        return not condition
    return bool(condition) and all(condition.get(k) == want[k] for k in ("title", "expression"))
ok = any(b.get("role") == sys.argv[2] and sys.argv[3] in b.get("members", []) and same(b.get("condition"))
         for b in policy.get("bindings", []))
sys.exit(0 if ok else 1)
PY
}
# Write an IAM condition (title $2, expression $3) as the JSON file $1.
condition_file() {
  "$PYTHON" -c 'import json, sys; json.dump({"title": sys.argv[2], "expression": sys.argv[3], "description": sys.argv[4]}, open(sys.argv[1], "w"))' \
    "$1" "$2" "$3" "firecontrol $CLUSTER: only this installation's resources"
}

SPEC=$("$PYTHON" "$HERE/spec.py" functions)
RUNTIME=$("$PYTHON" "$HERE/spec.py" runtime)
[ -n "$SPEC" ] || die "infra/functions.yaml defines no function"

# Where the pods' agents report, and their identity tokens' audience: the pod_status
# function's deterministic run.app URL, known before anything is deployed (it holds
# the project's number; a dry run shows PROJECT_NUMBER there).
if number=$(look gcloud projects describe "$PROJECT" --format="value(projectNumber)"); then
  POD_STATUS_URL=$("$PYTHON" "$HERE/spec.py" pod-status-url "$CLUSTER" "$number" "$REGION") ||
    die "project $PROJECT: no usable project number ('$number')"
  KUBE_API_URL=$("$PYTHON" "$HERE/spec.py" function-url kube_api "$CLUSTER" "$number" "$REGION")
elif $DRY_RUN; then
  POD_STATUS_URL="https://$CLUSTER-pod-status-PROJECT_NUMBER.$REGION.run.app"
  KUBE_API_URL="https://$CLUSTER-kube-api-PROJECT_NUMBER.$REGION.run.app"
else
  die "cannot read the number of project $PROJECT: $(cat "$WORK/look.err")"
fi
ENV_VARS="GOOGLE_CLOUD_PROJECT=$PROJECT,FIRECONTROL_REGION=$REGION,FIRECONTROL_ZONE=$ZONE,FIRECONTROL_CLUSTER=$CLUSTER,FIRECONTROL_DATABASE=$DATABASE,FIRECONTROL_MAX_REPLICAS=$MAX_REPLICAS,FIRECONTROL_EXTERNAL_IPS=$EXTERNAL_IPS,FIRECONTROL_POD_SERVICE_ACCOUNT=$(sa_email pods),FIRECONTROL_POD_STATUS_URL=$POD_STATUS_URL,FIRECONTROL_AGENT_HEARTBEAT=$AGENT_HEARTBEAT,FIRECONTROL_HEARTBEAT_TIMEOUT=$HEARTBEAT_TIMEOUT,FIRECONTROL_EVICTION_TIMEOUT=$EVICTION_TIMEOUT,CLOUD_PROVIDER=gce"

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

for group in events leases heartbeats; do
  step "TTL policy: $group.expireAt"
  ttls=$(look gcloud firestore fields ttls list --collection-group="$group" --database="$DATABASE" \
    --project="$PROJECT" --format="value(name)") || ttls=""
  if ! grep -q '/fields/expireAt$' <<<"$ttls"; then
    change gcloud firestore fields ttls update expireAt --collection-group="$group" --database="$DATABASE" \
      --enable-ttl --async --project="$PROJECT"
  fi
done

step "Firestore security rules (infra/firestore.rules) for $DATABASE: release $RELEASE"
# gcloud has no command for rules: the Firebase Rules REST API, with gcloud's token in
# a header file so it is never printed.
AUTH="$WORK/auth-header"
token=$(look gcloud auth print-access-token) || token=""
(umask 077; printf 'Authorization: Bearer %s\n' "$token" >"$AUTH")
release=$(look curl -fsS -H "@$AUTH" "$RULES_API/projects/$PROJECT/releases/$RELEASE") || release=""
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
  body="{\"name\": \"projects/$PROJECT/releases/$RELEASE\", \"rulesetName\": \"$name\"}"
  if [ -n "$release" ]; then
    change curl -fsS -X PATCH -H "@$AUTH" -H "Content-Type: application/json" \
      --data "{\"release\": $body}" "$RULES_API/projects/$PROJECT/releases/$RELEASE" >/dev/null
  else
    change curl -fsS -X POST -H "@$AUTH" -H "Content-Type: application/json" \
      --data "$body" "$RULES_API/projects/$PROJECT/releases" >/dev/null
  fi
fi

step "Firestore index: heartbeats.renewTime in collection-group queries (resync finds silent pods)"
# gcloud makes single-field indexes in collection scope only: the Firestore Admin REST
# API, with the same token header file.
FIELD="$FIRESTORE_API/projects/$PROJECT/databases/$DATABASE/collectionGroups/heartbeats/fields/renewTime"
field=$(look curl -fsS -H "@$AUTH" "$FIELD") || field=""
if ! "$PYTHON" -c 'import json, sys; config = json.loads(sys.argv[1] or "{}").get("indexConfig", {}); sys.exit(0 if not config.get("usesAncestorConfig") and any(i.get("queryScope") == "COLLECTION_GROUP" and [(f.get("fieldPath"), f.get("order")) for f in i.get("fields", [])] == [("renewTime", "ASCENDING")] for i in config.get("indexes", [])) else 1)' "$field"; then
  index() { printf '{"queryScope": "%s", "fields": [{"fieldPath": "renewTime", "order": "ASCENDING"}]}' "$1"; }
  change curl -fsS -X PATCH -H "@$AUTH" -H "Content-Type: application/json" \
    --data "{\"indexConfig\": {\"indexes\": [$(index COLLECTION), $(index COLLECTION_GROUP)]}}" \
    "$FIELD?updateMask=indexConfig" >/dev/null
fi

step "Service accounts"
for id in "${SA_IDS[@]}"; do
  if ! look gcloud iam service-accounts describe "$(sa_email "$id")" --project="$PROJECT" --format="value(email)" >/dev/null; then
    change gcloud iam service-accounts create "$CLUSTER-$id" --display-name="firecontrol $CLUSTER: $id" --project="$PROJECT"
  fi
done

step "Custom roles of the runtime (infra/iam.yaml)"
while IFS=$'\t' read -r -u 4 _ role_id title permissions _; do
  have=$(look gcloud iam roles describe "$role_id" --project="$PROJECT" --format="value(includedPermissions)") || have=""
  if [ -z "$have" ]; then
    change gcloud iam roles create "$role_id" --project="$PROJECT" --title="$title" --permissions="$permissions" --stage=GA
  elif [ "$(tr ';' '\n' <<<"$have" | sort | paste -sd,)" != "$permissions" ]; then
    change gcloud iam roles update "$role_id" --project="$PROJECT" --title="$title" --permissions="$permissions" --stage=GA
  fi
done 4<<<"$ROLES"

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
# The runtime: each role only on this installation's database and resources.
runtime="serviceAccount:$(sa_email runtime)"
grant_runtime() {  # role, condition title, condition expression ("-": none)
  if [ "$3" = - ]; then
    has_binding "$WORK/project-policy.json" "$1" "$runtime" ||
      change gcloud projects add-iam-policy-binding "$PROJECT" --member="$runtime" --role="$1" --condition=None --format=none
    return 0
  fi
  local file
  file="$WORK/condition-$(tr -c 'a-zA-Z0-9' _ <<<"$1").json"
  condition_file "$file" "$2" "$3"
  has_binding "$WORK/project-policy.json" "$1" "$runtime" "$file" ||
    change gcloud projects add-iam-policy-binding "$PROJECT" --member="$runtime" --role="$1" \
      --condition-from-file="$file" --format=none
}
grant_runtime roles/datastore.user "firecontrol-$CLUSTER-database" "$DATABASE_CONDITION"
# pod_status runs as its own account: the same database, nothing of Compute.
status="serviceAccount:$(sa_email status)"
condition_file "$WORK/condition-status-database.json" "firecontrol-$CLUSTER-status-database" "$DATABASE_CONDITION"
has_binding "$WORK/project-policy.json" roles/datastore.user "$status" "$WORK/condition-status-database.json" ||
  change gcloud projects add-iam-policy-binding "$PROJECT" --member="$status" --role=roles/datastore.user \
    --condition-from-file="$WORK/condition-status-database.json" --format=none
while IFS=$'\t' read -r -u 4 key role_id _ _ condition; do
  grant_runtime "projects/$PROJECT/roles/$role_id" "firecontrol-$CLUSTER-$key" "$condition"
done 4<<<"$ROLES"
for role in "${STALE_RUNTIME_ROLES[@]}"; do
  if has_binding "$WORK/project-policy.json" "$role" "$runtime"; then
    change gcloud projects remove-iam-policy-binding "$PROJECT" --member="$runtime" --role="$role" \
      --condition=None --format=none
  fi
done

step "Pod VMs run as $(sa_email pods): no project role; the runtime may attach it to a VM"
look gcloud iam service-accounts get-iam-policy "$(sa_email pods)" --project="$PROJECT" --format=json \
  >"$WORK/pods-policy.json" || : >"$WORK/pods-policy.json"
if ! has_binding "$WORK/pods-policy.json" roles/iam.serviceAccountUser "$runtime"; then
  change gcloud iam service-accounts add-iam-policy-binding "$(sa_email pods)" --project="$PROJECT" \
    --member="$runtime" --role=roles/iam.serviceAccountUser --format=none
fi

if $NAT; then
  step "Cloud NAT for $NETWORK in $REGION (the pods' VMs have no external IP)"
  # One NAT serves a network's subnetworks in a region: if any router there has one
  # (another installation's, or one of your own), the pods' VMs use it.
  look gcloud compute routers list --project="$PROJECT" --regions="$REGION" --format=json >"$WORK/routers.json" ||
    : >"$WORK/routers.json"
  found=$("$PYTHON" - "$WORK/routers.json" "$NETWORK" "$ROUTER" <<'PY'
import json, sys
text = open(sys.argv[1]).read().strip()
routers = json.loads(text) if text else []
on_network = [r for r in routers if str(r.get("network", "")).rsplit("/", 1)[-1] == sys.argv[2]]
nat = next((r["name"] for r in on_network if r.get("nats")), "")
ours = any(r.get("name") == sys.argv[3] for r in on_network)
print(f"{nat}|{'yes' if ours else 'no'}")
PY
)
  IFS='|' read -r nat_router have_router <<<"$found"
  if [ -n "$nat_router" ]; then
    echo "   Cloud NAT on router $nat_router already serves $NETWORK in $REGION" >&3
  else
    [ "$have_router" = yes ] || change gcloud compute routers create "$ROUTER" --network="$NETWORK" \
      --region="$REGION" --project="$PROJECT" --description="firecontrol $CLUSTER: Cloud NAT for the pods' VMs"
    change gcloud compute routers nats create "$NAT_NAME" --router="$ROUTER" --region="$REGION" --project="$PROJECT" \
      --auto-allocate-nat-external-ips --nat-all-subnet-ip-ranges --enable-logging --log-filter=ERRORS_ONLY
  fi
fi

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
while IFS=$'\t' read -r -u 4 entry name type event document retry memory timeout max_instances schedule invoker runs_as ingress; do
  name="$CLUSTER-$name"
  # Ingress (functions.yaml's invoker): internal-only, but the users' functions (kubectl
  # runs outside Google Cloud); IAM checks every caller's token either way.
  args=(--gen2 --region="$REGION" --project="$PROJECT" --runtime="$RUNTIME" --source="$OBJECT"
    --entry-point="$entry" --memory="$memory" --timeout="${timeout}s" --max-instances="$max_instances"
    --min-instances=0 --service-account="$(sa_email "$runs_as")"
    --build-service-account="projects/$PROJECT/serviceAccounts/$(sa_email build)"
    --set-env-vars="$ENV_VARS" --ingress-settings="$ingress" --no-allow-unauthenticated)
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

  # Who may invoke it (functions.yaml): Eventarc's account a Firestore-triggered one, the
  # scheduler's a scheduled one, the pods' VMs pod_status, the listed users kube_api; on
  # this function only.
  look gcloud run services get-iam-policy "$name" --region="$REGION" --project="$PROJECT" --format=json \
    >"$WORK/run-policy.json" || : >"$WORK/run-policy.json"
  if [ "$invoker" = users ]; then members=$USER_INVOKERS; else members="serviceAccount:$(sa_email "$invoker")"; fi
  while read -r member; do
    [ -n "$member" ] || continue
    if ! has_binding "$WORK/run-policy.json" roles/run.invoker "$member"; then
      change gcloud functions add-invoker-policy-binding "$name" --region="$REGION" --project="$PROJECT" \
        --member="$member"
    fi
  done <<<"$members"

  if [ "$schedule" != - ]; then
    job_name="$CLUSTER-${entry//_/-}"
    step "Cloud Scheduler job $job_name"
    [ "$entry" = resync ] && [ -n "$SCHEDULE" ] && schedule=$SCHEDULE
    uri=$(look gcloud functions describe "$name" --region="$REGION" --project="$PROJECT" \
      --format="value(serviceConfig.uri)") || uri="https://$name-URL.a.run.app"
    job=(--location="$REGION" --project="$PROJECT" --schedule="$schedule" --time-zone=Etc/UTC
      --uri="$uri" --http-method=post --attempt-deadline="${timeout}s" --max-retry-attempts=0
      --oidc-service-account-email="$(sa_email scheduler)" --oidc-token-audience="$uri")
    have=$(look gcloud scheduler jobs describe "$job_name" --location="$REGION" --project="$PROJECT" \
      --format="value(schedule,httpTarget.uri,httpTarget.oidcToken.serviceAccountEmail)") || have=""
    if [ -z "$have" ]; then
      change gcloud scheduler jobs create http "$job_name" "${job[@]}"
    elif [ "$have" != "$schedule"$'\t'"$uri"$'\t'"$(sa_email scheduler)" ]; then
      change gcloud scheduler jobs update http "$job_name" "${job[@]}"
    fi
  fi
done 4<<<"$SPEC"

step finished
# kubectl's way in: a kubeconfig whose exec plugin fetches an identity token for the URL.
echo "kubectl: python main.py kubeconfig --server $KUBE_API_URL --name $CLUSTER > firecontrol-$CLUSTER.kubeconfig" >&3
echo "         (callers need roles/run.invoker on $CLUSTER-kube-api: --kube-api-invokers)" >&3
$DRY_RUN && echo "(dry run: nothing was changed)" >&3
exit 0
