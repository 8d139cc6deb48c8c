# PACE Planner image: the REST service (`pace serve`) on port 8000, jobs in a SQLite file
# on the /data volume. Multi-stage: wheels are built in a full image; the runtime image
# only installs them and runs as an unprivileged user.
#
#   docker build -t pace-planner .
#   docker run -p 8000:8000 -v pace-data:/data pace-planner
#
# Settings are PACE_* variables (README, "Service"): e.g. -e PACE_API_KEYS=...,
# -e PACE_DATABASE_URL=postgresql+psycopg://user@db:5432/pace. The CLI is there too:
#   docker run --entrypoint pace pace-planner solve data/example-small.json
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PACE_HOST=0.0.0.0 \
    PACE_PORT=8000 \
    PACE_DATABASE_URL=sqlite:////data/pace.db
RUN useradd --create-home --uid 10001 pace \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels
COPY --chown=10001:10001 data /app/data
WORKDIR /app
USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PACE_PORT', '8000') + '/healthz', timeout=4)"]
ENTRYPOINT ["pace", "serve"]
