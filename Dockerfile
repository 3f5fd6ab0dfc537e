# Image for the server-side components (ingest, API, the demo simulator, `isanfarm grafana push`).
# Not built or run on the machines this project was developed on (no Docker engine there);
# docker-compose.yml uses it.
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
# The generated dashboards and alert rules, for `isanfarm grafana push --root /app/grafana`.
COPY grafana grafana
# The registry and saved models live here (the isanfarm-state volume takes this ownership when
# it is created); numba caches its compiled forecast kernels where nobody may write.
RUN mkdir -p /var/lib/isanfarm && chown nobody /var/lib/isanfarm
ENV NUMBA_CACHE_DIR=/tmp/numba-cache
USER nobody
ENTRYPOINT ["isanfarm"]
