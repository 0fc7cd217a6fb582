# The all-in-one host, `numbering` — on-prem Kubernetes, and the
# long-running worker of the AWS shape (infra/terraform/ecs.tf). Lambdas
# are built separately with
# `cargo lambda build --release --arm64 --output-format zip`.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p numbering --bin numbering

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 numbering
COPY --from=build /src/target/release/numbering /usr/local/bin/
# the RDS CA bundle for sslmode=verify-full on AWS (infra/certs/README.md)
COPY infra/certs/ /etc/numbering/
USER numbering
ENV NUMBERING_LISTEN=0.0.0.0:8080 NUMBERING_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/numbering"]
CMD ["serve"]
