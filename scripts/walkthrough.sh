#!/usr/bin/env bash
# The README's walkthrough, run against a live `cally serve`: create a tenant and its
# keys, upload the appointment-reminder example, inspect, approve and activate it,
# load a lead with consent, run a call over HTTP, read and verify the audit log, and
# run the lead's access report.
#
# Needs bash, curl and python3 (as the JSON tool). The end-to-end tests run this very
# script against a server they start, so the README cannot drift from the API.
#
# Environment:
#   CALLY_URL        the server (default http://127.0.0.1:8080)
#   CALLY_ADMIN_KEY  the platform-admin key `cally serve` printed at its first start
#   CALLY_COMPONENT  the component (default: the built example in target/guests)
#   CALLY_MANIFEST   its manifest (default: examples/appointment-reminder/cally.toml)
#   CALLY_TENANT     the tenant to create (default: walkthrough-<random>)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
url=${CALLY_URL:-http://127.0.0.1:8080}
admin=${CALLY_ADMIN_KEY:?set CALLY_ADMIN_KEY to the platform-admin key cally serve printed}
component=${CALLY_COMPONENT:-$root/target/guests/wasm32-wasip2/release/appointment_reminder.wasm}
manifest=${CALLY_MANIFEST:-$root/examples/appointment-reminder/cally.toml}
tenant=${CALLY_TENANT:-walkthrough-$RANDOM$RANDOM}

# api KEY METHOD PATH [JSON BODY]: one request; prints the response body, fails on an error status.
api() {
  local key=$1 method=$2 path=$3
  shift 3
  curl -sS --fail-with-body -X "$method" "$url$path" \
    -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"
}

# field EXPR: reads JSON on stdin and prints EXPR of it, e.g. field '["admin_key"]["key"]'.
field() {
  python3 -c 'import json, sys; print(eval("d" + sys.argv[1], {"d": json.load(sys.stdin)}))' "$1"
}

step() { printf '\n== %s\n' "$*"; }

step "1. platform admin: create tenant $tenant (its first tenant-admin key comes back once)"
tenant_admin=$(api "$admin" POST /v1/tenants -d "{\"id\": \"$tenant\"}" | field '["admin_key"]["key"]')

step "2. tenant admin: a key for each role"
developer=$(api "$tenant_admin" POST /v1/keys -d '{"role": "developer", "label": "dev@clinic"}' | field '["key"]')
reviewer=$(api "$tenant_admin" POST /v1/keys -d '{"role": "reviewer", "label": "rita@clinic"}' | field '["key"]')
runtime=$(api "$tenant_admin" POST /v1/keys -d '{"role": "runtime", "label": "voice-engine"}' | field '["key"]')
echo "developer, reviewer and runtime keys issued"

step "3. developer: upload the plugin (manifest text + component in base64)"
python3 -c 'import base64, json, sys
print(json.dumps({"manifest": open(sys.argv[1]).read(),
                  "component_base64": base64.b64encode(open(sys.argv[2], "rb").read()).decode()}))' \
  "$manifest" "$component" > "${TMPDIR:-/tmp}/cally-upload-$$.json"
api "$developer" POST /v1/plugins --data-binary "@${TMPDIR:-/tmp}/cally-upload-$$.json" | field '["state"]'
rm -f "${TMPDIR:-/tmp}/cally-upload-$$.json"

step "4. reviewer: inspect the version, then approve its two digests and activate it"
report=$(api "$reviewer" GET /v1/plugins/appointment-reminder/versions/0.1.0/inspect)
echo "$report" | field '["purpose"]'
component_digest=$(echo "$report" | field '["component_digest"]')
manifest_digest=$(echo "$report" | field '["manifest_digest"]')
api "$reviewer" POST /v1/plugins/appointment-reminder/versions/0.1.0/approve \
  -d "{\"component_digest\": \"$component_digest\", \"manifest_digest\": \"$manifest_digest\"}" | field '["versions"][0]["state"]'
api "$reviewer" POST /v1/plugins/appointment-reminder/versions/0.1.0/activate | field '["active_version"]'

step "5. tenant admin: a lead and their consent to call handling"
api "$tenant_admin" POST /v1/leads -d '{"lead_id": "lead-ada", "name": "Ada Lovelace", "phone": "+15550100",
  "age": "adult", "preferences": {"preferred-time": "mornings"}}' | field '["lead_id"]'
api "$tenant_admin" POST /v1/leads/lead-ada/consents -d '{"purpose": "call-handling", "source": "web-form",
  "evidence": "form-2291"}' | field '["purpose"]'

step "6. runtime: start a call, post the caller's answer, end the call"
api "$runtime" POST /v1/calls -d '{"plugin": "appointment-reminder", "call_id": "call-1", "lead_id": "lead-ada",
  "direction": "outbound", "campaign": "spring-checkups", "locale": "en-US"}' | field '["actions"][0]["text"]'
api "$runtime" POST /v1/calls/call-1/events -d '{"type": "speech", "text": "yes please, I will be there",
  "confidence": 0.92, "final": true}' | field '["actions"]'
api "$runtime" POST /v1/calls/call-1/end | field '["disposition"]'

step "7. reviewer: who read what about lead-ada, and is the log intact?"
api "$reviewer" GET "/v1/audit?lead=lead-ada" \
  | python3 -c 'import json, sys
for r in json.load(sys.stdin):
    print(r["seq"], r["resource"], r["purpose"], r["decision"], r["call_id"])'
api "$reviewer" GET /v1/audit/verify | field '["problem"] is None and "chain intact" or "CHAIN BROKEN"'

step "8. tenant admin: lead-ada's access report (their data, consents, and every use of it)"
api "$tenant_admin" GET /v1/leads/lead-ada/access-report \
  | python3 -c 'import json, sys
r = json.load(sys.stdin)
for line in r["summary"]:
    print(" ", line)
people = sum(1 for u in r["uses"] if u["actor"] is not None)
print(r["lead"]["name"], "-", len(r["consents"]), "consent(s),", len(r["uses"]), "use(s) of their data:",
      len(r["uses"]) - people, "by plugins,", people, "by people")'
