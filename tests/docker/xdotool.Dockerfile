# Test-only layer on the tcpchat image: xdotool, so the tests can type into
# the windows from inside their containers.  The shipped image stays without it.
#   docker build --network host --build-arg IMAGE=tcpchat:latest - < tests/docker/xdotool.Dockerfile
ARG IMAGE=tcpchat:latest
FROM ${IMAGE}

# root (uid 0) to install, then back to the image's own user.
USER 0:0
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends xdotool \
    && rm -rf /var/lib/apt/lists/*
USER 1000:1000
