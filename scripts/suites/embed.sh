#!/usr/bin/env bash
# The lean embedding: runtime/examples/embed_bundle.rs, built with
# ward-runtime's default features off (no compiler, no Redis), loads a
# signed bundle made by `ward build` and decides requests; a bundle signed
# by another key is refused.
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
ward="${WARD_BIN:-$target/debug/ward}"
[ -x "$ward" ] || cargo build -q --locked --bin ward
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

cat > "$dir/policy.ward" <<'WARD'
schema embed {
  entity User { team: String }
  entity Doc { team: String }
  action read by [User] on [Doc]
}

policy docs {
  @id("same-team")
  permit principal: User, action: read, resource: Doc
    when principal.team == resource.team
}
WARD
cat > "$dir/entities.json" <<'JSON'
[{"uid": {"type": "User", "id": "ana"}, "attrs": {"team": "red"}, "parents": []},
 {"uid": {"type": "Doc", "id": "plan"}, "attrs": {"team": "red"}, "parents": []},
 {"uid": {"type": "Doc", "id": "memo"}, "attrs": {"team": "blue"}, "parents": []}]
JSON
"$ward" keygen -o "$dir/signer" >/dev/null
"$ward" keygen -o "$dir/other" >/dev/null
"$ward" build "$dir/policy.ward" -o "$dir/policy.bundle" --sign "$dir/signer.key" >/dev/null

cargo build -q --locked -p ward-runtime --no-default-features --example embed_bundle
example="$target/debug/examples/embed_bundle"
out=$(printf '%s\n' \
  '{"principal": {"type": "User", "id": "ana"}, "action": "read", "resource": {"type": "Doc", "id": "plan"}, "context": {}}' \
  '{"principal": {"type": "User", "id": "ana"}, "action": "read", "resource": {"type": "Doc", "id": "memo"}, "context": {}}' \
  | "$example" "$dir/policy.bundle" "$dir/signer.pub" "$dir/entities.json")
echo "$out"
[ "$(echo "$out" | sed -n 1p | grep -c '"effect":"allow"')" = 1 ] || { echo "expected allow first"; exit 1; }
echo "$out" | sed -n 1p | grep -q '"docs.same-team"' || { echo "expected the deciding rule"; exit 1; }
[ "$(echo "$out" | sed -n 2p | grep -c '"effect":"deny"')" = 1 ] || { echo "expected deny second"; exit 1; }
if "$example" "$dir/policy.bundle" "$dir/other.pub" "$dir/entities.json" </dev/null 2>"$dir/err"; then
  echo "a bundle signed by another key was accepted"; exit 1
fi
grep -qi "sign" "$dir/err" || { cat "$dir/err"; echo "the refusal does not say why"; exit 1; }
echo "embed: lean runtime decided from a signed bundle; a foreign signature was refused"
