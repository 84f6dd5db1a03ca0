# pricealert in a container, built from this clone: a build stage compiles one static (musl)
# binary for the machine building it (x86_64 or aarch64), and the image holds that file alone.
#
#   docker build -t pricealert .                  (or: podman build -t pricealert .)
#   docker run -p 8080:8080 -v pricealert-data:/data pricealert
#   docker compose up -d                          (compose.yaml: the same, with restarts,
#                                                  SMTP settings and Litestream)
#
# The image runs as uid 10001 with its data in the /data volume and listens on 0.0.0.0:8080.
# No shell, no libc, no package manager: a musl binary resolves host names itself, TLS roots
# are built in, and the container runtime provides /etc/hosts and /etc/resolv.conf.

FROM docker.io/library/rust:1-slim-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && TARGET_CC=musl-gcc cargo build --release --locked --target "$target" \
 && install -D -m 0755 "target/$target/release/pricealert" /out/pricealert \
 && install -d -m 0700 /out/data

# .ci/release.sh builds this stage around its own release binary, in place of the build stage
# above (podman build --build-context build=DIR, DIR holding out/pricealert and out/data).
FROM scratch AS runtime
COPY --from=build /out/pricealert /pricealert
COPY --from=build --chown=10001:10001 /out/data /data
ENV PRICEALERT_SERVER__LISTEN=0.0.0.0:8080 \
    PRICEALERT_STORAGE__DATA_DIR=/data
VOLUME /data
EXPOSE 8080
USER 10001:10001
# Fails unless /healthz answers 200 (it answers 503 when the database cannot be written).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/pricealert", "healthcheck"]
ENTRYPOINT ["/pricealert"]
CMD ["serve"]
