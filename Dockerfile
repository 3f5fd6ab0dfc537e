# Image for the server-side components (ingest, API). Not built or run on the machines this
# project was developed on (no Docker engine there); see README.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY isanfarm isanfarm
COPY edge edge
COPY ingest ingest
COPY api api
COPY models models
COPY simulators simulators
RUN pip install --no-cache-dir ".[server]"
USER nobody
ENTRYPOINT ["isanfarm"]
