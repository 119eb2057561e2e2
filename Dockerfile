# syntax=docker/dockerfile:1
# The production image: multi-stage, slim, non-root, without the embedded PostgreSQL (`.[embedded]` is not
# installed: DATABASE_URL is required), served by granian (`halolight serve --production-server`).

FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml ./
COPY halolight ./halolight
COPY handlers ./handlers
COPY generated ./generated
COPY codegen ./codegen
# A non-editable install of the project and its pinned runtime dependencies only (no dev, no embedded).
RUN python -m venv /venv && /venv/bin/pip install .

FROM python:3.11-slim
WORKDIR /app
# libmagic: uploads' media types are detected from their bytes (python-magic, halolight/storage/sniff.py).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home halolight
COPY --from=build /venv /venv
# The application runs from /app (`python -m`, so /app comes first on sys.path): the code beside what it reads
# relative to itself at run time, the migrations (alembic.ini, alembic/) and the served spec (spec/).
COPY alembic.ini ./
COPY alembic ./alembic
COPY spec ./spec
COPY halolight ./halolight
COPY handlers ./handlers
COPY generated ./generated
USER halolight
# It needs DATABASE_URL, JWT_SECRET_KEY, JWT_REFRESH_SECRET_KEY, PASSWORD_RESET_URL, FILES_SHARE_URL, MAIL_FROM
# and SMTP_* (README "Settings"); without them, or with placeholders, it exits with status 2 and one line per problem.
ENV PATH=/venv/bin:$PATH HOST=0.0.0.0 PORT=8000 ENVIRONMENT=production MAIL_BACKEND=smtp \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
EXPOSE 8000
# Ready = database reachable and migrations at head (stdlib only: the slim image has no curl).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/ready' % os.environ.get('PORT', '8000'), timeout=2)"]
# Migrates and seeds the reference data (idempotently; no demo accounts in production), then serves.
CMD ["python", "-m", "halolight.cli", "serve", "--production-server"]
