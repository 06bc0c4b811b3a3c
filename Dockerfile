# Build a static binary, then ship it alone on a distroless, non-root base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/inkwell ./cmd/inkwell

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/inkwell /inkwell
ENV INKWELL_ADDR=:8080 INKWELL_ENV=production
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/inkwell"]
CMD ["serve"]
