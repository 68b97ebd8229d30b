"""What sessions share: the workspace, its workflows, artifacts, deps and venvs, quotas, the host API."""
