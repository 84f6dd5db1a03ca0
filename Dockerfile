# A small image around the one-file release binary. Build the binary first (README, "One-file
# release"), then:
#   docker build -t pricealert .
#   docker run -p 8080:8080 -v pricealert-data:/data pricealert
# debian-slim rather than scratch: even a static glibc binary loads glibc's NSS modules to
# resolve host names (the exchange, the mail server). TLS roots are built into the binary.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home /data pricealert \
 && install -d -o pricealert -g pricealert -m 0700 /data
COPY target/x86_64-unknown-linux-gnu/release/pricealert /usr/local/bin/pricealert
ENV PRICEALERT_SERVER__LISTEN=0.0.0.0:8080 \
    PRICEALERT_STORAGE__DATA_DIR=/data
VOLUME /data
EXPOSE 8080
USER pricealert
# Fails unless /healthz answers 200 (503 when the database cannot be written).
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/pricealert", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/pricealert"]
CMD ["serve"]
