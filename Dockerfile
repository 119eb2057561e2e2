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
ENV PATH=/venv/bin:$PATH HOST=0.0.0.0 PORT=8000
EXPOSE 8000
# Migrates and seeds (idempotently), then serves. DATABASE_URL must be set.
CMD ["python", "-m", "halolight.serve"]
