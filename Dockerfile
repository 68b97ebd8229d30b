# codemode-mcp: the MCP server over streamable HTTP, on the example workspace (mount your own at /workspace).
#   docker build -t codemode-mcp .
#   docker run -p 8000:8000 -e CODEMODE_AUTH_TOKEN=... \
#       --security-opt seccomp=unconfined --security-opt apparmor=unconfined codemode-mcp
#   (the two --security-opt flags let bubblewrap make its namespaces; without them the server
#    warns once and runs workers unconfined: see docs/security.md, "Docker")
#   docker run -i --rm --no-healthcheck codemode-mcp --base /workspace     # stdio, for an MCP client
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv

# bubblewrap confines each session's worker; the server runs as an unprivileged user.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap=0.8.* \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv==0.13.9 \
    && useradd --create-home --uid 10001 codemode

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable --extra semantic

COPY --chown=10001 tools /workspace/tools
COPY --chown=10001 workflows /workspace/workflows
COPY --chown=10001 artifacts /workspace/artifacts

USER 10001
WORKDIR /workspace
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["/opt/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/opt/venv/bin/codemode-mcp"]
CMD ["--base", "/workspace", "--transport", "http", "--host", "0.0.0.0"]
