# The real Toxiproxy 2.12.0 (Shopify's server and CLI, statically linked) as an
# image FROM scratch, laid out like the official ghcr.io/shopify/toxiproxy image
# (/toxiproxy entrypoint, /toxiproxy-cli beside it). The binaries are not in this
# repository: scripts/build-images copies them from LAB_TOXIPROXY_DIR
# (default ../shared/tools/toxiproxy) into a throwaway build context.
# Tagged pos-lab/toxiproxy:2.12.0 — a local build of the real server, never the
# lab's own proxy.
FROM scratch
COPY toxiproxy-server /toxiproxy
COPY toxiproxy-cli /toxiproxy-cli
EXPOSE 8474
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
