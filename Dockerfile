# syntax=docker/dockerfile:1
#
# Studio's container image, for those who build with Docker (or Railway,
# which builds this file). `make image` builds the same image with no
# Docker engine (internal/ociimage); internal/ociimage's
# TestDockerfileMatchesRecipe fails when the final stage's USER,
# ENTRYPOINT, CMD, EXPOSE, WORKDIR, ENV or LABELs differ from that recipe.
#
#   docker build -t studio:dev \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(git log -1 --format=%cI)" .
#   docker run -p 8080:8080 -e REDIS_URL=redis://… studio:dev

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETARCH
# Static (modernc SQLite needs no cgo), so it runs on an image with no libc.
RUN CGO_ENABLED=0 GOOS=linux GOARCH=$TARGETARCH go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION}" -o /out/studio ./cmd/studio \
    && mkdir -p /out/workdir

# distroless static: the CA bundle at /etc/ssl/certs/ca-certificates.crt,
# /etc/passwd with nonroot (65532, home /home/nonroot), /tmp 1777, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=
ARG CREATED=
COPY --from=build /out/studio /usr/local/bin/studio
# The working directory, writable by the user: the default DATABASE_URL
# (sqlite:studio.db) is created there.
COPY --from=build --chown=65532:65532 /out/workdir /var/lib/studio
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /var/lib/studio
# STUDIO_ADDR is left unset: serve listens on :8080, every interface.
EXPOSE 8080/tcp
ENTRYPOINT ["/usr/local/bin/studio"]
CMD ["serve"]
LABEL org.opencontainers.image.title="studio" \
      org.opencontainers.image.description="Studio: a session layer on Redis" \
      org.opencontainers.image.source="https://github.com/studiohq/studio" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
