"""HTTP layer: one ``httpx.Client`` per connection with credentials, timeouts and retries."""

from __future__ import annotations

from ci_toolkit.http.retry import RetryPolicy
from ci_toolkit.http.session import ApiSession, build_http_client, open_session

__all__ = ["ApiSession", "RetryPolicy", "build_http_client", "open_session"]
