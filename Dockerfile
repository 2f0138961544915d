# syntax=docker/dockerfile:1
# hostgate gateway image: build a wheel, then run it as a non-root user.
# The image holds no config and no secret: mount your config directory at /app/config
# (read-only) and give secrets through the environment. The repository's demo config
# uses public credentials; the gateway refuses them unless HOSTGATE_DEMO=1.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY adapters ./adapters
RUN pip install --no-cache-dir --upgrade "pip>=24" \
 && pip wheel --no-cache-dir --wheel-dir /wheels ".[tracing]"

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 hostgate \
 && useradd --system --uid 10001 --gid hostgate --home-dir /app --shell /usr/sbin/nologin hostgate
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
RUN mkdir -p /app/config /app/var && chown hostgate:hostgate /app/var
USER 10001:10001
EXPOSE 8080
VOLUME ["/app/var"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["hostgate"]
CMD ["serve", "--config", "/app/config", "--host", "0.0.0.0"]
