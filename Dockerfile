# certmap API image. Built by docker-compose.yml; the server itself needs only a database URL.
FROM rust:1-bookworm AS build
# diesel links libpq; the -dev package carries the library the linker looks for.
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# .git is not in the build context: pass the revision for `certmap --version` (api/build.rs).
ARG CERTMAP_GIT_REVISION=""
RUN cargo build --release --locked -p certmap

# An nginx gateway that follows certmap (`docker compose --profile gateway up`): the official
# image runs /docker-entrypoint.d/ scripts before nginx, and ours starts `certmap pull`.
FROM nginx:1.27-bookworm AS gateway
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /etc/certmap/tls
COPY --from=build /src/target/release/certmap /usr/local/bin/certmap
COPY deploy/gateway/certmap-pull.sh /docker-entrypoint.d/90-certmap-pull.sh

# The API; the default target.
FROM debian:bookworm-slim AS api
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/certmap --create-home certmap
COPY --from=build /src/target/release/certmap /usr/local/bin/certmap
USER certmap
WORKDIR /var/lib/certmap
ENV CERTMAP_LISTEN=0.0.0.0:8080 \
    CERTMAP_DATA_DIR=/var/lib/certmap \
    CERTMAP_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["certmap"]
CMD ["serve"]
