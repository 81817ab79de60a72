"""HTTP layer: one ``httpx.Client`` per connection with credentials, timeouts and retries."""

from __future__ import annotations

from ci_toolkit.http.session import ApiSession

__all__ = ["ApiSession"]
