# codemode-mcp: the MCP server on the example workspace (mount your own at /workspace).
#   docker build -t codemode-mcp .
#   docker run -i --rm codemode-mcp                         # stdio, for an MCP client
#   docker run -p 8000:8000 -e CODEMODE_AUTH_TOKEN=... codemode-mcp \
#       --base /workspace --transport http --host 0.0.0.0   # streamable HTTP; GET /healthz for probes
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv

RUN pip install --no-cache-dir uv==0.13.9 \
    && useradd --create-home --uid 10001 codemode

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY src ./src
RUN uv sync --frozen --no-dev --no-editable

COPY --chown=10001 tools /workspace/tools
COPY --chown=10001 workflows /workspace/workflows
COPY --chown=10001 artifacts /workspace/artifacts

USER 10001
WORKDIR /workspace
EXPOSE 8000
ENTRYPOINT ["/opt/venv/bin/codemode-mcp"]
CMD ["--base", "/workspace"]
