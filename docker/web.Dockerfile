# The browser view's own image (docker/compose.web.yaml): one virtual screen
# that the server and client containers draw on, shown in a web page.  Debian
# packages only: TigerVNC's Xvnc (an X server and a VNC server in one process)
# and websockify serving noVNC.  The chat windows themselves run in the tcpchat
# image, unchanged; this image has no Python code of tcpchat and no Tk.
#   docker build --network host --build-arg PYTHON_IMAGE=tcpchat-base:bookworm \
#       -f docker/web.Dockerfile -t tcpchat-web .
# PYTHON_IMAGE, as in the main Dockerfile, only so one base serves both images
# (websockify brings Debian's own python3).
ARG PYTHON_IMAGE=python:3.12-slim
FROM ${PYTHON_IMAGE}

# The web root is noVNC's folder, linked file by file, plus an index page that
# opens the viewer already connecting and scaled to the window.  The user is
# the tcpchat image's (uid 1000), so the windows can use the screen's cookie;
# /tmp/.X11-unix is the folder the screen's socket and cookie are shared in.
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends tigervnc-standalone-server xauth novnc websockify; \
    rm -rf /var/lib/apt/lists/*; \
    useradd --create-home --uid 1000 --user-group chat; \
    install -d -m 1777 /tmp/.X11-unix; \
    install -d /opt/tcpchat-web; \
    ln -s /usr/share/novnc/* /opt/tcpchat-web/

COPY docker/web-index.html /opt/tcpchat-web/index.html
COPY docker/web-view.sh /usr/local/bin/tcpchat-web-view

USER 1000:1000
WORKDIR /home/chat
ENV TCPCHAT_WEB_LISTEN=0.0.0.0 \
    TCPCHAT_WEB_PORT=6080 \
    TCPCHAT_WEB_SCREEN=1280x720
EXPOSE 6080

# Healthy once the screen is shared and the page is served.
HEALTHCHECK --interval=1s --timeout=3s --start-period=30s --retries=3 \
    CMD ["tcpchat-web-view", "--check"]

ENTRYPOINT ["tcpchat-web-view"]
