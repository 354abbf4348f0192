# One image per function: docker build --build-arg FUNCTION=recommend|chat|canary .
# The trainer job's image is the recommend image with the training extras:
#   docker build --build-arg FUNCTION=recommend --build-arg EXTRAS=ml -t .../trainer:TAG .
# The container runs the function with functions-framework on $PORT (Cloud Run sets 8080).
# FUNCTION_TARGET / FUNCTION_SIGNATURE_TYPE default to the HTTP entry point named after the
# function; Terraform overrides them for the canary's CloudEvent entry (canary_incident).
FROM python:3.11-slim

ARG FUNCTION=recommend
ARG EXTRAS=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The engine package with pinned dependencies (constraints = the project's full pin set).
COPY pyproject.toml ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY shared/ shared/
RUN case "$FUNCTION" in recommend|chat|canary) ;; \
      *) echo "FUNCTION must be recommend, chat or canary (got '$FUNCTION')" >&2; exit 1 ;; \
    esac \
 && pip install -c requirements/constraints.txt ".${EXTRAS:+[$EXTRAS]}" \
 && rm -rf shared build

COPY functions/${FUNCTION}/ functions/${FUNCTION}/

# Never run as root. The writable scratch directory (VAR_DIR) lives in /tmp (in-memory on Cloud Run).
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin app \
 && mkdir -p /tmp/recoengine && chown app /tmp/recoengine
USER 10001

ENV FUNCTION=${FUNCTION} \
    FUNCTION_TARGET=${FUNCTION} \
    FUNCTION_SOURCE=/app/functions/${FUNCTION}/main.py \
    FUNCTION_SIGNATURE_TYPE=http \
    VAR_DIR=/tmp/recoengine \
    PORT=8080

EXPOSE 8080

CMD exec functions-framework --target="$FUNCTION_TARGET" --source="$FUNCTION_SOURCE" \
    --signature-type="$FUNCTION_SIGNATURE_TYPE" --host=0.0.0.0 --port="$PORT"
