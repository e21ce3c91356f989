# The container image of paradigm-upload (see examples/kubernetes-indexed-job.yaml).
#
# Built by goreleaser (dockers_v2 in .goreleaser.yaml) from the release
# binaries it has just built — static (CGO_ENABLED=0), one per platform,
# staged in the build context as linux/amd64/paradigm-upload and
# linux/arm64/paradigm-upload — so nothing is compiled here:
#
#   goreleaser release --snapshot --clean    # needs docker buildx
#
# distroless/static holds what a static Go binary needs to talk HTTPS and
# nothing more: CA certificates, time zone data, and an unprivileged user
# (nonroot, 65532). No shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot

ARG TARGETPLATFORM
COPY $TARGETPLATFORM/paradigm-upload /usr/local/bin/paradigm-upload

USER 65532:65532
ENTRYPOINT ["/usr/local/bin/paradigm-upload"]
