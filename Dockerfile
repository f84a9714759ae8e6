# syntax=docker/dockerfile:1
# secretbrokerd in a minimal image: a static binary (no cgo), built with
# -trimpath, running as a non-root user. Config and data are volumes.
#
#   docker build -t secretbroker .
#   docker run -p 127.0.0.1:7787:7787 -v sbdata:/var/lib/secretbroker secretbroker
#
# The image listens on 0.0.0.0:7787 inside the container because the API is
# reached through the published port; publish it on loopback only (as above)
# until the API has TLS and access control.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ENV CGO_ENABLED=0 GOFLAGS=-trimpath
RUN go build -ldflags="-s -w" -o /out/secretbrokerd ./cmd/secretbrokerd \
 && go build -ldflags="-s -w" -o /out/secretbroker ./cmd/secretbroker \
 && mkdir -p /out/data /out/config \
 && cp configs/secretbroker.yaml /out/config/secretbroker.yaml

# distroless/static has CA certificates and a nonroot user (65532) and no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/secretbrokerd /out/secretbroker /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/config /etc/secretbroker
COPY --from=build --chown=65532:65532 /out/data /var/lib/secretbroker
USER 65532:65532
VOLUME ["/etc/secretbroker", "/var/lib/secretbroker"]
EXPOSE 7787
ENTRYPOINT ["/usr/local/bin/secretbrokerd", \
  "-config", "/etc/secretbroker/secretbroker.yaml", \
  "-data-dir", "/var/lib/secretbroker", \
  "-listen", "0.0.0.0:7787"]
