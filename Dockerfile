# The pipeline's binaries in one image; docker-compose.yml picks the command per service.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ucx-ingest /src/target/release/ucx-processors \
     /src/target/release/ucx-sinks /src/target/release/ucx-notifier /src/target/release/ucx-sim /src/target/release/ucx-admin \
     /usr/local/bin/
COPY config/ucx.toml /etc/ucx/ucx.toml
COPY processors/rules.toml /etc/ucx/rules.toml
ENV UCX_CONFIG=/etc/ucx/ucx.toml UCX_PROCESSORS__RULES_FILE=/etc/ucx/rules.toml
USER nobody
