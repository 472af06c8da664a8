# syntax=docker/dockerfile:1
# promptops: the prompt loader image.
#   build    the Rust toolchain: promptops built once (dependencies in their own cached layer),
#            then the release bundle of this repository's production prompts
#   runtime  the binary alone on distroless cc (glibc, CA certificates, no shell), non-root;
#            `promptops image --base` appends a bundle to this image without Docker
#   app      (default) runtime + the bundle at /srv/promptops, served on 0.0.0.0:8080
#
#   docker build --build-arg RELEASE_ID="$(promptops bundle --out "$(mktemp -d)")" \
#                --build-arg REVISION="$(git rev-parse HEAD)" -t prompts:latest .
#   docker build --target runtime -t promptops-runtime:0.1.0 .
# RELEASE_ID only labels the image: serve refuses to start when it is not the bundle's id.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /work
# Dependencies first: this layer is rebuilt only when Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs tests/it/main.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/.fingerprint/promptops-*
COPY clippy.toml ./
COPY src ./src
RUN cargo build --release --locked \
    && install -m 0755 target/release/promptops /usr/local/bin/promptops
# The release bundle: what `serve` loads, built by the same code as `promptops bundle`.
COPY promptops.yaml prompt_registry.yaml ./
COPY schemas ./schemas
COPY prompts ./prompts
RUN promptops --repo /work bundle --out /out/bundle

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=build /usr/local/bin/promptops /usr/local/bin/promptops
ENV PROMPTOPS_LISTEN=0.0.0.0:8080
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["promptops", "healthcheck"]
ENTRYPOINT ["promptops"]
CMD ["serve"]

FROM runtime AS app
ARG RELEASE_ID=""
ARG REVISION=""
ARG SOURCE="https://github.com/promptops/promptops"
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.title="promptops prompt loader" \
      dev.promptops.release="${RELEASE_ID}"
COPY --from=build --chown=0:0 /out/bundle /srv/promptops
ENV PROMPTOPS_BUNDLE=/srv/promptops \
    PROMPTOPS_RELEASE=${RELEASE_ID}
