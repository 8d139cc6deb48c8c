# PACE Planner image: the `pace` CLI (and, once the service lands, `pace serve`).
# Multi-stage: wheels are built in a full image, the runtime image only installs them.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY models ./models
RUN pip install --no-cache-dir --upgrade pip \
    && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --create-home --uid 10001 pace
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY --chown=pace:pace data /app/data
WORKDIR /app
USER pace
ENTRYPOINT ["pace"]
CMD ["solve", "data/pace-reference.json"]
