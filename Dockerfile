# syntax=docker/dockerfile:1
# stockledger image: `docker build -t stockledger .`, then `docker run stockledger serve` (the
# default) or any other command (`migrate`, `relay`, `project`, `expire`, `seed`, ...).
# Configuration: the STOCKLEDGER_* variables of .env.example.

# -- builder: build the wheel and install it, with its dependencies, into a virtualenv ----------
# The wheel carries the Alembic environment (package data), so `migrate` needs nothing else;
# with the `tracing` extra, OTEL_* settings alone turn OpenTelemetry on (README, "Tracing").
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install "$(ls /wheels/*.whl)[tracing]"

# -- runtime: slim Python, the venv, a non-root user ---------------------------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 stockledger \
 && useradd --system --uid 10001 --gid stockledger --create-home stockledger
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOCKLEDGER_HOST=0.0.0.0 \
    STOCKLEDGER_PORT=8000
USER stockledger
WORKDIR /home/stockledger
EXPOSE 8000
# Liveness of the HTTP API (slim images have no curl). Worker containers (relay, project,
# expire) serve no HTTP: docker-compose.yml disables this check for them.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('STOCKLEDGER_PORT', '8000'), timeout=2)" || exit 1
ENTRYPOINT ["stockledger"]
CMD ["serve"]
