# native-sidecar-policy universal injector shim (POSIX sh).
#
# Two copies of one sidecar share an emptyDir, and at run time exactly one of
# them runs it, whether or not the node supports native sidecars:
#   native   the init container with restartPolicy: Always. Its first run only
#            leaves a mark and exits 0; a restart (which only a kubelet that
#            supports native sidecars does to an init container that exited 0)
#            means native sidecars work: it claims the sidecar and runs it.
#   legacy-* the regular container. It waits a bounded time for the native copy
#            to claim the sidecar; if none does, native sidecars do not work here
#            and it claims and runs the sidecar itself. When the native copy owns
#            it, `legacy-stay` sleeps (pod restartPolicy Always: exiting would
#            only get it restarted) and `legacy-exit` exits 0 (Never/OnFailure:
#            the pod can complete).
# A claim is a mkdir, atomic on every POSIX file system, so a restart that lands
# after the legacy copy gave up cannot start a second copy of the sidecar.
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
    idle
    ;;
  legacy-stay | legacy-exit)
    waited=0
    while [ -z "$(owner)" ] && [ "$waited" -lt "$wait" ]; do
      sleep 1
      waited=$((waited + 1))
    done
    if claim legacy; then exec "$@"; fi
    if [ "$role" = legacy-stay ]; then idle; fi
    exit 0
    ;;
  *)
    echo "native-sidecar shim: unknown role '$role'" >&2
    exit 2
    ;;
esac
