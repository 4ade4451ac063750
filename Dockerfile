# backline as a container: `backline serve` (uvicorn) on BACKLINE_PORT (8000), as a non-root user.
#   docker build -t backline .
#   docker run -p 8000:8000 -v backline-state:/var/lib/backline \
#     -e BACKLINE_DATABASE_URL=postgresql://... -e BACKLINE_TWILIO_AUTH_TOKEN=... \
#     -e BACKLINE_PUBLIC_URL=https://voice.example.com backline
# Another port: -e BACKLINE_PORT=9000 -p 9000:9000 (the health check follows the variable).
# See docs/deploy.md.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY backline ./backline
# backline alone; its dependencies come from the lock file below, hashes checked.
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BACKLINE_STATE_DIR=/var/lib/backline \
    BACKLINE_HOST=0.0.0.0 \
    BACKLINE_PORT=8000
# The journal and the saved copy of the table live in the state directory: mount a volume there
# so that calls recorded while the database was down survive a container restart. It holds
# callers' numbers: readable by the service's user only.
RUN groupadd --system --gid 10001 backline \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/backline --create-home \
        --shell /usr/sbin/nologin backline \
    && chmod 0700 /var/lib/backline
# The server and the command line at the versions CI tested (requirements/server.lock, made by
# `make lock` from pyproject.toml), every file checked against its hash.
COPY requirements/server.lock /tmp/server.lock
RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/server.lock && rm /tmp/server.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps --no-index /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/backline
VOLUME ["/var/lib/backline"]
EXPOSE 8000
# /healthz stays 200 while the database is down (calls are still answered); a failing check
# means the process itself does not answer. It asks the port `serve` listens on: choose the
# port with BACKLINE_PORT rather than a --port flag, so that both follow it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BACKLINE_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["backline"]
CMD ["serve"]
