#!/bin/bash
# Proton Beam instance preparation (EC2 user data). It only prepares the machine:
#   - the SSM agent running (Run Command and Session Manager replace SSH),
#   - the encrypted data volume formatted and mounted at /data,
#   - Node.js 22 LTS, pinned, from the official tarball, its SHA-256 checked,
#   - the system libsecp256k1 (native Schnorr verification, 4 to 6 x the WASM rate),
#   - libdeflate (the day files' gzip in about 2/3 of zlib's time).
# No job logic: the job arrives later through SSM Run Command.
# Idempotent: running it again changes nothing on a prepared machine.
# cloudformation/proton-beam.yaml embeds a verbatim copy of this file (a test keeps them equal).
set -Eeuo pipefail

NODE_VERSION=22.22.0
NODE_SHA256=9aa8e9d2298ab68c600bd6fb86a6c13bce11a4eca1ba9b39d79fa021755d7c37
NODE_DIR=/opt/node-v$NODE_VERSION
DATA_MOUNT=/data
DATA_LABEL=pb-data
MARKER=/var/lib/proton-beam/prepared

log() { echo "prepare-instance: $*"; }
trap 'log "failed at line $LINENO"' ERR

ensure_ssm_agent() {
  # Ubuntu AMIs ship the agent as a snap. Document parameters reach the job as environment
  # variables, which needs agent 3.3.2746.0 or later: refresh to the current release.
  if snap list amazon-ssm-agent >/dev/null 2>&1; then
    snap refresh amazon-ssm-agent || log "snap refresh amazon-ssm-agent failed; keeping the installed agent"
  else
    snap install amazon-ssm-agent --classic
  fi
  snap start --enable amazon-ssm-agent
  log "SSM agent $(snap list amazon-ssm-agent | awk 'NR == 2 { print $2 }') running"
}

find_data_disk() {
  # The data volume is the EBS disk that is neither the root disk nor partitioned.
  local root_source root_disk disk model
  root_source=$(findmnt -no SOURCE /)
  root_disk=/dev/$(lsblk -no PKNAME "$root_source" | head -n 1)
  local -a disks
  mapfile -t disks < <(lsblk -dnpo NAME -e 7,11)
  for disk in "${disks[@]}"; do
    [ "$disk" = "$root_disk" ] && continue
    model=$(lsblk -dno MODEL "$disk" || true)
    case "$model" in *"Elastic Block Store"*) ;; *) continue ;; esac
    if [ "$(lsblk -no NAME "$disk" | wc -l)" -eq 1 ]; then
      echo "$disk"
      return 0
    fi
  done
  return 1
}

ensure_data_volume() {
  if mountpoint -q "$DATA_MOUNT"; then
    log "$DATA_MOUNT already mounted"
    return 0
  fi
  if ! blkid -L "$DATA_LABEL" >/dev/null 2>&1; then
    local disk="" attempt
    for attempt in $(seq 1 60); do
      if disk=$(find_data_disk); then break; fi
      log "waiting for the data volume to attach ($attempt)"
      sleep 2
    done
    if [ -z "$disk" ]; then
      log "no data volume found"
      return 1
    fi
    log "formatting $disk as $DATA_LABEL"
    mkfs.ext4 -q -L "$DATA_LABEL" -m 0 "$disk"
  fi
  mkdir -p "$DATA_MOUNT"
  if ! grep -q "^LABEL=$DATA_LABEL " /etc/fstab; then
    echo "LABEL=$DATA_LABEL $DATA_MOUNT ext4 defaults,noatime,nofail 0 2" >>/etc/fstab
  fi
  mount "$DATA_MOUNT"
  log "mounted $DATA_MOUNT ($(df -h --output=size "$DATA_MOUNT" | tail -n 1 | tr -d ' '))"
}

install_packages() {
  # Compilers for native modules whose prebuilt binaries cannot be fetched; xz for the Node tarball;
  # libdeflate0 for the day files' gzip (lib/day-files/gzip.ts; zlib, slower, without it).
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -q
  apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
    build-essential python3 xz-utils curl ca-certificates libdeflate0
}

install_libsecp256k1() {
  # The native Schnorr verifier loads libsecp256k1.so.2 or .so.1 (lib/nostr/verify-native.ts);
  # the package's name follows the library's ABI: take the newest the release has.
  local package
  for package in libsecp256k1-2 libsecp256k1-1; do
    if apt-cache show "$package" >/dev/null 2>&1; then
      apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$package"
      log "installed $package"
      return 0
    fi
  done
  log "no libsecp256k1 package found: signatures will be verified in WASM, 4 to 6 x slower"
}

install_node() {
  if [ "$(uname -m)" != x86_64 ]; then
    log "expected an x86_64 instance, got $(uname -m)"
    return 1
  fi
  if [ -x "$NODE_DIR/bin/node" ] && [ "$("$NODE_DIR/bin/node" --version)" = "v$NODE_VERSION" ]; then
    log "Node.js v$NODE_VERSION already installed"
  else
    local tarball="node-v$NODE_VERSION-linux-x64.tar.xz" tmp
    tmp=$(mktemp -d)
    curl -fsSL --retry 5 -o "$tmp/$tarball" "https://nodejs.org/dist/v$NODE_VERSION/$tarball"
    echo "$NODE_SHA256  $tmp/$tarball" | sha256sum --check --strict --quiet -
    rm -rf "$NODE_DIR.partial"
    mkdir -p "$NODE_DIR.partial"
    tar -xJf "$tmp/$tarball" -C "$NODE_DIR.partial" --strip-components=1 --no-same-owner
    rm -rf "$NODE_DIR" "$tmp"
    mv "$NODE_DIR.partial" "$NODE_DIR"
    log "installed Node.js v$NODE_VERSION"
  fi
  local tool
  for tool in node npm npx; do
    ln -sfn "$NODE_DIR/bin/$tool" "/usr/local/bin/$tool"
  done
}

# --- watchdog (no runaway bills) -------------------------------------------------------------
# A systemd timer runs proton-beam-watchdog every minute. It shuts the instance down (and so
# terminates it) when no job has started within 30 minutes of boot, or when the job runs past the
# deadline that the job sets (start + MaxJobHours). Installed first, so a failed preparation
# still ends in a terminated instance.
WATCHDOG=/usr/local/sbin/proton-beam-watchdog

install_watchdog() {
  cat >"$WATCHDOG.partial" <<'WATCHDOG_SCRIPT'
#!/bin/bash
# proton-beam-watchdog: ends an instance that would otherwise bill by accident.
#   check            (the timer, every minute) shut down when past the deadline
#   extend SECONDS WHY   the deadline becomes now + SECONDS (the job sets start + MaxJobHours)
#   end              the job has finished: nothing more to enforce (until the next extend)
#   status           print the decision without acting
#   on-shutdown CMD ARGS...   run CMD (60 s at most) before a shutdown of its own: the job registers
#                    the scale-down of its Auto Scaling group, so that the group does not replace
#                    an instance the watchdog ended
# Without a deadline set by a job, the deadline is boot + 30 minutes. The state lives in
# PB_WATCHDOG_DIR. Tests: PB_WATCHDOG_NOW and PB_WATCHDOG_BOOT (a fake clock, epoch seconds),
# PB_WATCHDOG_DRY_RUN=1 (print instead of shutting down).
set -euo pipefail
dir=${PB_WATCHDOG_DIR:-/var/lib/proton-beam/watchdog}
boot_grace=1800

now() { echo "${PB_WATCHDOG_NOW:-$(date +%s)}"; }
boot_time() {
  if [ -n "${PB_WATCHDOG_BOOT:-}" ]; then echo "$PB_WATCHDOG_BOOT"; return; fi
  local up
  up=$(cut -d. -f1 /proc/uptime)
  echo $(($(now) - up))
}
say() { echo "proton-beam-watchdog: $*"; }

decide() {
  # Prints "ok|ended|terminate" and a reason.
  if [ -e "$dir/ended" ]; then echo "ended the job finished; nothing to enforce"; return; fi
  local deadline why t
  if [ -s "$dir/deadline" ]; then
    deadline=$(cat "$dir/deadline")
    why=$(cat "$dir/reason" 2>/dev/null || echo "a deadline set by the job")
  else
    deadline=$(($(boot_time) + boot_grace))
    why="no job started within 30 minutes of boot"
  fi
  t=$(now)
  if [ "$t" -ge "$deadline" ]; then echo "terminate $why (deadline passed $((t - deadline)) s ago)"
  else echo "ok $((deadline - t)) s left before: $why"; fi
}

case "${1:-}" in
  check | status)
    read -r verdict reason < <(decide)
    say "$verdict: $reason"
    if [ "$verdict" = terminate ] && [ "$1" = check ]; then
      if [ "${PB_WATCHDOG_DRY_RUN:-}" = 1 ]; then say "dry run: would shut down now"; exit 0; fi
      logger -t proton-beam-watchdog "shutting down: $reason" || true
      if [ -s "$dir/on-shutdown" ]; then
        mapfile -t hook <"$dir/on-shutdown"
        say "before shutting down: ${hook[*]}"
        timeout 60 "${hook[@]}" || say "that failed (exit $?); shutting down anyway"
      fi
      shutdown -h now "proton-beam-watchdog: $reason"
    fi
    ;;
  extend)
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { say "usage: extend SECONDS WHY"; exit 2; }
    mkdir -p "$dir"
    rm -f "$dir/ended"
    echo "$(($(now) + $2))" >"$dir/deadline.tmp" && mv "$dir/deadline.tmp" "$dir/deadline"
    why=${3:-a deadline set by the job}
    echo "$why" >"$dir/reason"
    say "deadline in $2 s: $why"
    ;;
  end)
    mkdir -p "$dir"
    touch "$dir/ended"
    say "the job finished; the watchdog stands down"
    ;;
  on-shutdown)
    [ $# -ge 2 ] || { say "usage: on-shutdown CMD ARGS..."; exit 2; }
    mkdir -p "$dir"
    shift
    printf '%s\n' "$@" >"$dir/on-shutdown.tmp" && mv "$dir/on-shutdown.tmp" "$dir/on-shutdown"
    say "before a shutdown: $*"
    ;;
  *)
    say "usage: proton-beam-watchdog check|status|extend SECONDS WHY|end|on-shutdown CMD ARGS..."
    exit 2
    ;;
esac
WATCHDOG_SCRIPT
  chmod 755 "$WATCHDOG.partial"
  mv "$WATCHDOG.partial" "$WATCHDOG"
  cat >/etc/systemd/system/proton-beam-watchdog.service <<'UNIT'
[Unit]
Description=Proton Beam watchdog: shut down when no job started within 30 min of boot or the job overran

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/proton-beam-watchdog check
UNIT
  cat >/etc/systemd/system/proton-beam-watchdog.timer <<'UNIT'
[Unit]
Description=Run the Proton Beam watchdog every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=10s

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable --now proton-beam-watchdog.timer
  log "watchdog armed: $("$WATCHDOG" status)"
}
# --- end of watchdog -------------------------------------------------------------------------

install_watchdog
ensure_ssm_agent
ensure_data_volume
install_packages
install_libsecp256k1
install_node
mkdir -p "$(dirname "$MARKER")" "$DATA_MOUNT/proton-beam"
echo "node=$NODE_VERSION prepared=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
log "done"
