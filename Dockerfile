# syntax=docker/dockerfile:1
# A static binary on distroless: no shell, no package manager, non-root.
# The build stage runs the same `cargo build --locked --release` that CI runs;
# on Alpine the host target is musl, so the binary is statically linked.
FROM rust:1.95-alpine AS build
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --locked --release && cp target/release/iam-warden /iam-warden

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /iam-warden /usr/local/bin/iam-warden
# No policy is baked in: the Deployment mounts the one you wrote (a ConfigMap at
# /etc/iam-warden, named by IAM_WARDEN_POLICY). Without one the daemon refuses to start.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/iam-warden"]
CMD ["run"]
