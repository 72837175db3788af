# syntax=docker/dockerfile:1
#
# One image for every Duban server: `duban serve <service>` runs one of them (see
# docker-compose.yml), `duban health --addr 127.0.0.1:<port>` is its health probe.
#
#   docker build -t duban .
#   docker run --rm duban --help
#
# tests/tests/deployment.rs checks this file against docker-compose.yml and Cargo.toml.

# --- build ------------------------------------------------------------------------
# At least the workspace `rust-version`. Protos compile with protox, so no protoc is
# needed, and the PostgreSQL driver uses rustls, so no OpenSSL either.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep downloaded crates and compiled dependencies between builds; the
# binary is copied out of the cached target dir because cache mounts do not persist
# into the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin duban \
    && cp target/release/duban /usr/local/bin/duban

# --- runtime ----------------------------------------------------------------------
# Same Debian release as the build image, so the binary finds the glibc it was linked
# against.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 duban \
    && useradd --system --uid 10001 --gid duban --home-dir /var/lib/duban --shell /usr/sbin/nologin duban \
    && install -d -o duban -g duban /var/lib/duban
COPY --from=build /usr/local/bin/duban /usr/local/bin/duban
# `data_dir` defaults to ./data: SQLite databases, if no DATABASE_URL is given, land in
# /var/lib/duban/data (mount a volume there to keep them).
WORKDIR /var/lib/duban
USER duban:duban
# The servers' ports (gateway, departments, measures, targets, reporting), then their
# Prometheus /metrics ports in the same order, as docker-compose.yml publishes them.
EXPOSE 50051 50052 50053 50054 50055 50061 50062 50063 50064 50065
ENTRYPOINT ["duban"]
CMD ["--help"]
