"""Device code prompts: a callback ``(verification_uri, user_code, expires_on)``.

:class:`TerminalPrompt` writes plain lines to ``sys.stderr`` (the person must see the code
even when logging is not configured, and stderr keeps stdout clean for pipes);
``ci_toolkit.connect`` picks the widget (:mod:`ci_toolkit.widgets`) inside an IPython kernel.
A prompt may also implement :class:`SignInObserver` to hear about progress and the outcome.

Example
-------
>>> from datetime import datetime, timezone
>>> import io
>>> out = io.StringIO()
>>> TerminalPrompt(stream=out)("https://microsoft.com/devicelogin", "ABCD-1234",
...                            datetime(2030, 1, 1, tzinfo=timezone.utc))
>>> "ABCD-1234" in out.getvalue()
True
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TextIO, runtime_checkable

__all__ = [
    "DeviceCodeCallback",
    "SignInObserver",
    "TerminalPrompt",
    "in_ipython_kernel",
]

DeviceCodeCallback = Callable[[str, str, datetime], object]
"""``(verification_uri, user_code, expires_on)``; ``expires_on`` is timezone-aware UTC."""


@runtime_checkable
class SignInObserver(Protocol):
    """Optional methods of a prompt that wants progress and the outcome of the sign-in."""

    def waiting(self, seconds_left: float) -> None:
        """Called about twice a second while the sign-in is pending."""

    def finished(self, *, success: bool, message: str) -> None:
        """Called once when the sign-in succeeded, failed, expired or was interrupted."""


class TerminalPrompt:
    """The plain-text prompt: the link and the code on stderr, then the outcome.

    Parameters
    ----------
    stream
        Where to write; ``sys.stderr`` when ``None``.

    Example
    -------
    >>> prompt = TerminalPrompt()
    """

    def __init__(self, *, stream: TextIO | None = None) -> None:
        self._stream = stream

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(text + "\n")
        stream.flush()

    def __call__(self, verification_uri: str, user_code: str, expires_on: datetime) -> None:
        """Show the link and the code.

        Example
        -------
        >>> TerminalPrompt()("https://microsoft.com/devicelogin", "ABC", expires)  # doctest: +SKIP
        """
        local = expires_on.astimezone().strftime("%H:%M")
        self._write(
            f"To sign in to Customer Insights, open {verification_uri} and enter the code "
            f"{user_code} (valid until {local})."
        )

    def waiting(self, seconds_left: float) -> None:
        """Nothing to do in a terminal while waiting."""

    def finished(self, *, success: bool, message: str) -> None:
        """Write the outcome.

        Example
        -------
        >>> TerminalPrompt().finished(success=True, message="Signed in.")  # doctest: +SKIP
        """
        self._write(message)


def in_ipython_kernel() -> bool:
    """True inside an IPython kernel (Jupyter, VS Code...), by the kernel object, not the UI.

    Example
    -------
    >>> in_ipython_kernel()
    False
    """
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
