# Boomerang gateway image: the `boomerang` command (serve, sim, keys, config check, ...).
#   docker build -t boomerang .
#   docker run --rm boomerang --help
# compose.yaml builds it for the gateway and the simulator services.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project as a regular (non-editable) package; the sources are not needed after.
WORKDIR /tmp/boomerang-src
COPY . .
RUN pip install --no-cache-dir . \
 && cd / && rm -rf /tmp/boomerang-src

# Run as an unprivileged user. /data (BOOMERANG_DATA_DIR: SQLite state, spool, webhook outbox)
# belongs to that user in the image, so an empty named volume mounted there starts out
# writable by it (Docker copies the image's ownership into a new named volume).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/boomerang boomerang \
 && mkdir -p /data \
 && chown boomerang:boomerang /data

# Contract settings (CONTRACT.md section 6) with container-friendly values: inside a container
# the default 127.0.0.1 would make the API unreachable from outside it. The environment
# (e.g. compose.yaml) can still override both.
ENV BOOMERANG_DATA_DIR=/data \
    BOOMERANG_API_HOST=0.0.0.0

WORKDIR /data
USER boomerang
EXPOSE 8080

ENTRYPOINT ["boomerang"]
CMD ["serve"]
