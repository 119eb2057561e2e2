# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /app
COPY pyproject.toml ./
COPY halolight ./halolight
COPY handlers ./handlers
COPY generated ./generated
COPY codegen ./codegen
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
WORKDIR /app
RUN useradd --system --uid 10001 halolight
COPY --from=build /venv /venv
COPY alembic.ini ./
COPY alembic ./alembic
COPY spec ./spec
COPY halolight ./halolight
COPY handlers ./handlers
COPY generated ./generated
USER halolight
# A production image: it needs DATABASE_URL, JWT_SECRET_KEY, JWT_REFRESH_SECRET_KEY, PASSWORD_RESET_URL,
# MAIL_FROM and SMTP_* (see README "Settings"); without them, or with placeholders, it exits with status 2 and
# one line per problem. Override ENVIRONMENT=development only for local experiments.
ENV PATH=/venv/bin:$PATH HOST=0.0.0.0 PORT=8000 ENVIRONMENT=production MAIL_BACKEND=smtp
EXPOSE 8000
# Migrates and seeds the reference data (idempotently; no demo accounts in production), then serves.
CMD ["python", "-m", "halolight.serve"]
