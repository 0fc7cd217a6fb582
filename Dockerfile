# The all-in-one host, `numbering` — on-prem Kubernetes (infra/k8s), and the
# long-running worker of the AWS shape (infra/terraform/ecs.tf). Lambdas
# are built separately with
# `cargo lambda build --release --arm64 --output-format zip`.
#
# Dependencies build in a layer of their own (cargo-chef): it is rebuilt
# only when Cargo.toml / Cargo.lock change, not on every source edit.
#
# No HEALTHCHECK: Kubernetes ignores it (the Deployment's startup, readiness
# and liveness probes on /healthz and /readyz do that job), and ECS has its
# own health check; a HEALTHCHECK would also need curl or a shell in the
# image, which it does not have.
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked -p numbering --bin numbering

# glibc, libgcc and CA certificates, nothing else: no shell, no package
# manager. UID 10001 is what infra/k8s declares (runAsUser) and checks.
FROM gcr.io/distroless/cc-debian12
COPY --from=build /src/target/release/numbering /usr/local/bin/numbering
# the RDS CA bundle for sslmode=verify-full on AWS (infra/certs/README.md)
COPY infra/certs/ /etc/numbering/
USER 10001:10001
ENV NUMBERING_LISTEN=0.0.0.0:8080 NUMBERING_LOG_FORMAT=json
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/numbering"]
CMD ["serve"]
