# scopegate's image: a release build on Debian bookworm, run from distroless "cc" (glibc, libgcc; no
# shell, no package manager) as the non-root user 65532.
#
#   make image                       # docker build -t scopegate:0.1.0 .
#   docker tag scopegate:0.1.0 REGISTRY/scopegate:0.1.0 && docker push REGISTRY/scopegate:0.1.0
#
# then point the Deployment at it (and pin the digest) with `images:` in your kustomization.
# CI builds the same binary the same way (`cargo build --release --locked --bin scopegate`) and checks
# that it needs nothing beyond what the runtime image has (scripts/check-image-binary.sh).

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
# The workspace: the crate, and the test kit (a member, so cargo needs its manifest).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests/testkit ./tests/testkit
RUN cargo build --release --locked --bin scopegate \
 && install -D -m 0755 target/release/scopegate /out/scopegate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/scopegate /usr/local/bin/scopegate
USER 65532:65532
# 8443: the webhooks (HTTPS); 9090: /healthz, /readyz, /metrics (HTTP).
EXPOSE 8443 9090
ENTRYPOINT ["/usr/local/bin/scopegate"]
CMD ["serve", "--tls-cert", "/etc/scopegate/tls/tls.crt", "--tls-key", "/etc/scopegate/tls/tls.key"]
