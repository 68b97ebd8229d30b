"""Fetch a URL and parse the response as JSON."""

import json


async def run(url: str, timeout: int = 30) -> object:
    body = tools.curl.get(url=url, max_time=timeout)  # noqa: F821 - `tools` is predefined in a session
    return json.loads(body)
