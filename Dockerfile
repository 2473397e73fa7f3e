# syntax=docker/dockerfile:1
# Multi-stage build: cgo is needed for the Opus encoder (layeh.com/gopus
# compiles its bundled libopus), so the build stage has gcc and the runtime
# stage only needs glibc and CA certificates.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The same command is run by cmd/bot's TestDockerBuildCommand, so a change here is tested.
RUN CGO_ENABLED=1 CGO_CFLAGS="-O3 -Wno-stringop-overread" go build -trimpath -ldflags="-s -w" -o /out/livecord ./cmd/bot

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data livecord \
    && mkdir -p /data && chown livecord /data
COPY --from=build /out/livecord /usr/local/bin/livecord
USER livecord
WORKDIR /data
ENV LIVECORD_DATA_DIR=/data
VOLUME ["/data"]
# SIGTERM lets the bot finish or cancel turns and leave voice channels.
STOPSIGNAL SIGTERM
# The binary asks its own /healthz (ADMIN_ADDR; the image has no curl).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["/usr/local/bin/livecord", "health"]
ENTRYPOINT ["/usr/local/bin/livecord"]
CMD ["run"]
