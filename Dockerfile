# syntax=docker/dockerfile:1
# Build stage: wheels for the project and its dependencies.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

# Runtime stage: the virtualenv only, run as an unprivileged user.
FROM python:3.11-slim AS runtime
RUN groupadd --system wa && useradd --system --gid wa --home-dir /app --shell /usr/sbin/nologin wa
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" PYTHONUNBUFFERED=1 WA_PROFILE=production WA_HOST=0.0.0.0 \
    WA_LOG_FORMAT=json WA_DATA_DIR=/app/data
WORKDIR /app
RUN mkdir -p /app/data && chown wa:wa /app/data
USER wa
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=2)" || exit 1
CMD ["wa", "serve"]
