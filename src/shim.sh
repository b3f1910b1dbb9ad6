# native-sidecar-policy universal injector shim (POSIX sh).
#
# Two copies of one sidecar share an emptyDir, and at run time exactly one of
# them runs it, whether or not the node supports native sidecars:
#   native  the init container with restartPolicy: Always. Its first run only
#           leaves a mark and exits 0; a restart (which only a kubelet that
#           supports native sidecars does to an init container that exited 0)
#           means native sidecars work: it claims the sidecar and runs it.
#   legacy  the regular container. It waits a bounded time for the native copy
#           to claim the sidecar; if none does, native sidecars do not work here
#           and it claims and runs the sidecar itself. When the native copy owns
#           it, it sleeps (the pod's restartPolicy is Always: exiting would only
#           get it restarted).
# A claim is a mkdir, atomic on every POSIX file system, so a restart that lands
# after the legacy copy gave up cannot start a second copy of the sidecar.
#
# The emptyDir outlives a pod sandbox restart (node reboot, container runtime
# restart): then the init containers run again. Where the legacy copy owns the
# sidecar, the native copy must not idle then: on a kubelet without native
# sidecars an init container that never exits keeps the pod in Init forever. It
# yields (exits 0) once; the legacy copy clears that mark whenever it starts,
# so a kubelet that restarts the native copy again finds it and lets it idle.
#
# usage: sh -c "$SHIM" shim ROLE STATE WAIT_SECONDS COMMAND [ARG...]
set -u
role=$1 state=$2 wait=$3
shift 3

# Who owns the sidecar: "native", "legacy", or "" when nobody has claimed it.
owner() {
  [ -d "$state.claim" ] || return 0
  # The owner's name follows its mkdir at once; wait for it, boundedly.
  n=0
  while [ ! -f "$state.claim/owner" ] && [ "$n" -lt 5 ]; do sleep 1; n=$((n + 1)); done
  cat "$state.claim/owner" 2>/dev/null
}

# Claim the sidecar for $1; true if this copy owns it (now or from before).
claim() {
  if mkdir "$state.claim" 2>/dev/null; then
    echo "$1" > "$state.claim/owner.tmp" && mv "$state.claim/owner.tmp" "$state.claim/owner"
    return 0
  fi
  [ "$(owner)" = "$1" ]
}

# Idle for good: this copy is not the sidecar, but must not exit.
idle() { exec sleep 2147483647; }

case $role in
  native)
    if [ ! -e "$state.started" ]; then
      : > "$state.started"
      exit 0
    fi
    if claim native; then exec "$@"; fi
    if [ ! -e "$state.yielded" ]; then
      : > "$state.yielded"
      exit 0
    fi
    idle
    ;;
  legacy)
    rm -f "$state.yielded"
    waited=0
    while [ -z "$(owner)" ] && [ "$waited" -lt "$wait" ]; do
      sleep 1
      waited=$((waited + 1))
    done
    if claim legacy; then exec "$@"; fi
    idle
    ;;
  *)
    echo "native-sidecar shim: unknown role '$role'" >&2
    exit 2
    ;;
esac
