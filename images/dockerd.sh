# Sourced by images/build.sh and e2e/images/check.sh: makes a Docker engine
# available and remembers whether it started one.
#
# An engine that answers as the environment says ($DOCKER_HOST or the default
# socket) is used as it is. Otherwise the engine at
# unix:///tmp/dockerd.sock (../shared/TOOLING.md) is used if it answers,
# or dockerd is started there (there is no systemd on our machines);
# `docker_stop_if_started` stops it again only if this script started it.
# docker.io comes from apt (.ci/run installs it); a missing engine fails.

karst_dockerd_started=""

docker_ensure() {
  # An engine the environment already points at ($DOCKER_HOST, or the
  # default socket of a machine that runs Docker as a service).
  if docker version >/dev/null 2>&1; then
    return 0
  fi
  export DOCKER_HOST=unix:///tmp/dockerd.sock
  if docker version >/dev/null 2>&1; then
    return 0
  fi
  command -v dockerd >/dev/null || {
    echo "dockerd not found: apt-get install -y --no-install-recommends docker.io (see .ci/run)" >&2
    return 1
  }
  dockerd --data-root /tmp/dockerd-data --exec-root /tmp/dockerd-exec \
    -H "$DOCKER_HOST" --pidfile /tmp/dockerd.pid > /tmp/dockerd.log 2>&1 &
  karst_dockerd_started=$!
  for _ in $(seq 1 300); do
    docker version >/dev/null 2>&1 && return 0
    kill -0 "$karst_dockerd_started" 2>/dev/null || break
    sleep 0.1
  done
  echo "dockerd did not start; see /tmp/dockerd.log:" >&2
  tail -20 /tmp/dockerd.log >&2
  return 1
}

docker_stop_if_started() {
  if [ -n "$karst_dockerd_started" ]; then
    kill "$karst_dockerd_started" 2>/dev/null || true
    # dockerd exits after stopping its containers; wait so that the next
    # start finds the socket and pid file free.
    for _ in $(seq 1 300); do
      kill -0 "$karst_dockerd_started" 2>/dev/null || break
      sleep 0.1
    done
    karst_dockerd_started=""
  fi
}
