# backline as a container: `backline serve` (uvicorn) on port 8000, as a non-root user.
#   docker build -t backline .
#   docker run -p 8000:8000 -v backline-state:/var/lib/backline \
#     -e BACKLINE_DATABASE_URL=postgresql://... -e BACKLINE_TWILIO_AUTH_TOKEN=... \
#     -e BACKLINE_PUBLIC_URL=https://voice.example.com backline
# See docs/deploy.md.
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md* ./
COPY backline ./backline
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BACKLINE_STATE_DIR=/var/lib/backline
# The journal and the saved copy of the table live in the state directory: mount a volume there
# so that calls recorded while the database was down survive a container restart.
RUN groupadd --system --gid 10001 backline \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/backline --create-home \
        --shell /usr/sbin/nologin backline
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/backline
VOLUME ["/var/lib/backline"]
EXPOSE 8000
# /healthz stays 200 while the database is down (calls are still answered); a failing check
# means the process itself does not answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["backline"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
