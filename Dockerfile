# tcpchat in a container: the chat server and client windows (Tk) on an X
# display, either the host's (forwarded, see compose.yaml) or a private Xvfb
# that the entrypoint starts (headless machines, CI).  See docs/docker.md.
#
# The base is the official Python image by default.  Where no registry is
# reachable, build on a Debian image made from Debian packages alone:
#   docker/build-base-image.sh tcpchat-base:bookworm
#   docker build --network host --build-arg PYTHON_IMAGE=tcpchat-base:bookworm -t tcpchat .
ARG PYTHON_IMAGE=python:3.12-slim

FROM ${PYTHON_IMAGE} AS runtime

# Tk, a virtual X server, xauth for its cookie, and one font.  The official
# image has Python's _tkinter built but its Tk library removed (libtk8.6); a
# plain Debian base needs Python and Tk from Debian.  Versions are not pinned:
# the two bases are different Debian releases, and each takes its own.
# redis-server (about 10 MB with its libraries) is the room's store in the
# cluster demo (docker/compose.cluster.yaml), which runs it from this image; on
# a Debian base redis-py, for `--store redis://`, is Debian's python3-redis.
# Then the unprivileged user everything runs as, and the folder where Xvfb,
# running as that user, makes its socket.
# hadolint ignore=DL3008,SC2086
RUN set -eux; \
    packages='xvfb xauth fonts-dejavu-core redis-server'; \
    if [ -x /usr/local/bin/python3 ]; then \
        packages="$packages libtk8.6"; \
    else \
        packages="$packages python3 python3-tk python3-venv python3-wheel-whl python3-redis"; \
    fi; \
    apt-get update; \
    apt-get install -y --no-install-recommends $packages; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --create-home --uid 1000 --user-group chat; \
    install -d -m 1777 /tmp/.X11-unix

# tcpchat in its own virtual environment (Debian's Python refuses a system-wide
# pip install).  Only pyproject.toml and the package are copied, so edits to
# docs or tests do not invalidate this layer.  pip needs setuptools to build
# it: on a Debian base, Debian ships it and its helper as wheels
# (python3-setuptools-whl with python3-venv, python3-wheel-whl), so the build
# needs no registry at all; the official image fetches them from PyPI as usual.
# The redis extra likewise: from PyPI on the official image; on a Debian base
# the environment sees Debian's python3-redis (--system-site-packages) instead.
ENV VIRTUAL_ENV=/opt/tcpchat \
    PATH=/opt/tcpchat/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY pyproject.toml /tmp/tcpchat-src/
COPY tcpchat /tmp/tcpchat-src/tcpchat
RUN set -eu; \
    if [ -d /usr/share/python-wheels ]; then \
        export PIP_NO_INDEX=1 PIP_FIND_LINKS=/usr/share/python-wheels; \
        python3 -m venv --system-site-packages "$VIRTUAL_ENV"; \
        pip install --no-cache-dir /tmp/tcpchat-src; \
    else \
        python3 -m venv "$VIRTUAL_ENV"; \
        pip install --no-cache-dir '/tmp/tcpchat-src[redis]'; \
    fi; \
    python3 -c 'import redis'; \
    rm -rf /tmp/tcpchat-src

COPY docker/entrypoint.sh /usr/local/bin/tcpchat-entrypoint
COPY docker/healthcheck.py /usr/local/bin/tcpchat-healthcheck

# Numeric, so a runtime can tell that it is not root without reading /etc/passwd.
USER 1000:1000
WORKDIR /home/chat

# The server listens on every address inside its container; compose publishes
# it on the host's 127.0.0.1 only.  Clients set TCPCHAT_HOST to the server.
ENV TCPCHAT_HOST=0.0.0.0 \
    TCPCHAT_PORT=9000
EXPOSE 9000

# Healthy once the server listens; it reads the socket table rather than
# joining the chat (see docker/healthcheck.py).  Client containers run
# `tcpchat-healthcheck client` instead: healthy while connected.
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python3", "/usr/local/bin/tcpchat-healthcheck"]

ENTRYPOINT ["tcpchat-entrypoint"]
CMD ["tcpchat", "server"]
