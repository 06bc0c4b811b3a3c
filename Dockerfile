# syntax=docker/dockerfile:1
# A static binary alone on an empty (scratch) base with the CA certificates it needs to
# reach sign-in providers over TLS: no shell, no package manager, a non-root user. The build
# image is an argument so a build can use a mirror (or, in .ci/check-deploy, a local
# stand-in).
ARG GO_IMAGE=golang:1.26-bookworm

# The build stage runs on the builder's own platform and cross-compiles, so a multi-arch
# build needs no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS TARGETARCH
# The build context leaves .git out, so the release workflow names the build:
# --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=….
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_DATE=
ENV CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
	go build -trimpath -ldflags="-s -w -X inkwell/internal/buildinfo.version=${VERSION} -X inkwell/internal/buildinfo.commit=${COMMIT} -X inkwell/internal/buildinfo.date=${BUILD_DATE}" -o /out/inkwell ./cmd/inkwell

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/inkwell /inkwell
ENV INKWELL_ADDR=:8080 INKWELL_ENV=production
EXPOSE 8080
# Numeric, so Kubernetes' runAsNonRoot can verify it with no /etc/passwd in the image.
USER 65532:65532
# Liveness, not readiness: a database outage must not get every container restarted.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/inkwell", "healthcheck"]
ENTRYPOINT ["/inkwell"]
CMD ["serve"]
