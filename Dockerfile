# The abstream worker image: `docker compose up` builds it (see docker-compose.yml).
FROM python:3.11-slim

WORKDIR /opt/abstream
COPY pyproject.toml README.md ./
COPY abstream ./abstream
COPY agents ./agents
COPY analysis ./analysis
COPY experiments ./experiments
COPY infra ./infra
COPY schemas ./schemas
COPY sinks ./sinks
COPY topology ./topology
RUN pip install --no-cache-dir . \
    && useradd --system --home-dir /var/lib/abstream --create-home abstream

USER abstream
ENV ABSTREAM_LOCAL_DIR=/var/lib/abstream
ENTRYPOINT ["abstream"]
CMD ["worker"]
