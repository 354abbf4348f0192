# One image per function: docker build --build-arg FUNCTION=recommend|chat|canary .
# The trainer job's image is the recommend image with the training extras:
#   docker build --build-arg FUNCTION=recommend --build-arg EXTRAS=ml -t .../trainer:TAG .
# The container runs the function with functions-framework's ASGI server (--asgi: gunicorn, one
# uvicorn worker, one event loop) on $PORT (Cloud Run sets 8080). Handlers that wait on sync
# clients run in the function's own thread pool, sized by shared/recoengine/capacity.yml (read
# by the function from the installed package; SERVER_THREADS, which Terraform sets from the
# same file, overrides), never by os.cpu_count().
# FUNCTION_TARGET / FUNCTION_SIGNATURE_TYPE default to the HTTP entry point named after the
# function; Terraform overrides them for the canary's CloudEvent entry (canary_incident).
# Stage 1 builds the engine's wheel: its scoring kernels are a C extension (Cython), so this
# stage has a compiler; the image that runs has none.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml ./
COPY shared/ shared/
RUN pip wheel --no-deps --wheel-dir /wheels .

# Stage 2: the demo model, trained once at build time from generated data (it needs the training
# extras, which the serving image does not carry). Recommend and chat serve it until a real
# model is released (MODEL_URI, set by Terraform from var.model_uri, overrides it).
FROM python:3.11-slim AS demo-model

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY requirements/constraints.txt /src/constraints.txt
COPY --from=build /wheels /wheels
RUN pip install -c /src/constraints.txt "$(ls /wheels/recoengine-*.whl)[train]" \
 && python -m recoengine.cli demo-model --out /demo-model

# Stage 3: the function's image.
FROM python:3.11-slim

ARG FUNCTION=recommend
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The engine's wheel with pinned dependencies (constraints = the project's full pin set).
COPY requirements/constraints.txt requirements/constraints.txt
COPY --from=build /wheels /wheels
RUN case "$FUNCTION" in recommend|chat|canary) ;; \
      *) echo "FUNCTION must be recommend, chat or canary (got '$FUNCTION')" >&2; exit 1 ;; \
    esac \
 && pip install -c requirements/constraints.txt "$(ls /wheels/recoengine-*.whl)${EXTRAS:+[$EXTRAS]}" \
 && rm -rf /wheels \
 && python -m recoengine.capacity threads "$FUNCTION"

COPY functions/${FUNCTION}/ functions/${FUNCTION}/
COPY --from=demo-model /demo-model /app/demo-model

# Never run as root. The writable scratch directory (VAR_DIR) lives in /tmp (in-memory on Cloud Run).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /tmp/recoengine && chown app /tmp/recoengine
USER 10001

ENV FUNCTION=${FUNCTION} \
    FUNCTION_TARGET=${FUNCTION} \
    FUNCTION_SOURCE=/app/functions/${FUNCTION}/main.py \
    FUNCTION_SIGNATURE_TYPE=http \
    WORKERS=1 \
    VAR_DIR=/tmp/recoengine \
    MODEL_URI=/app/demo-model \
    PORT=8080

EXPOSE 8080

CMD exec functions-framework --asgi --target="$FUNCTION_TARGET" --source="$FUNCTION_SOURCE" \
    --signature-type="$FUNCTION_SIGNATURE_TYPE" --host=0.0.0.0 --port="$PORT"
