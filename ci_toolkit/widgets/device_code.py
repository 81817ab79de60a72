"""The device code prompt for notebooks: the code, a copy button, the link and live status.

It is a device code callback ``(verification_uri, user_code, expires_on)`` that also hears
the progress (:class:`~ci_toolkit.auth.SignInObserver`): a countdown while waiting, then one
line saying "Signed in as ..." (the code and the link are removed) or why sign-in failed.

While the sign-in waits, the kernel is busy with the cell that called ``connect()``: it still
sends widget updates (the countdown moves), but would not handle a click until the cell
ends. So nothing here needs the kernel: the link is a plain link, and the copy button is a
browser button copying the code with ``navigator.clipboard`` (a one-line handler, the only
way to reach the browser's clipboard; copying in the kernel would copy on the server). If a
front end strips it, the code is still one click to select (``user-select: all``).

Example
-------
>>> from datetime import datetime, timezone
>>> prompt = DeviceCodePrompt(display=False)
>>> prompt("https://microsoft.com/devicelogin", "ABCD1234",
...        datetime(2030, 1, 1, tzinfo=timezone.utc))
>>> "ABCD1234" in prompt.code.value
True
"""

from __future__ import annotations

import html
import json
from datetime import datetime

import ipywidgets as widgets

__all__ = ["DeviceCodePrompt"]

_COPY_BUTTON = (
    "<button class='jupyter-button' title='Copy the code' "
    "onclick='navigator.clipboard.writeText({code}); this.textContent=\"Copied\"'>"
    "Copy code</button>"
)


class DeviceCodePrompt:
    """An ipywidgets prompt for device code sign-in.

    Parameters
    ----------
    display
        Display the widget when the code arrives (False in headless tests).

    Attributes
    ----------
    widget
        The ``VBox`` to display.
    code, copy, link, status
        Its parts (``HTML`` widgets), for tests and restyling.

    Example
    -------
    >>> prompt = DeviceCodePrompt(display=False)
    >>> prompt.status.value
    ''
    """

    def __init__(self, *, display: bool = True) -> None:
        self._display = display
        self.title = widgets.HTML("<b>Sign in to Customer Insights</b>")
        self.link = widgets.HTML()
        self.code = widgets.HTML()
        self.copy = widgets.HTML()
        self.status = widgets.HTML()
        self.details = widgets.HBox([self.code, self.copy])
        self.widget = widgets.VBox([self.title, self.link, self.details, self.status])
        self.user_code: str | None = None
        self.outcome: str | None = None

    def __call__(self, verification_uri: str, user_code: str, expires_on: datetime) -> None:
        """Show the link, the code and its copy button (and display the widget).

        Example
        -------
        >>> DeviceCodePrompt()(uri, "ABCD1234", expires_on)  # doctest: +SKIP
        """
        self.user_code = user_code
        uri = html.escape(verification_uri, quote=True)
        code = html.escape(user_code)
        self.link.value = (
            f"Open <a href='{uri}' target='_blank' rel='noopener'>{uri}</a> and enter the code:"
        )
        self.code.value = (
            f"<code style='font-size:1.4em;user-select:all;padding:0 .5em'>{code}</code>"
        )
        self.copy.value = _COPY_BUTTON.format(code=html.escape(json.dumps(user_code), quote=True))
        local = expires_on.astimezone().strftime("%H:%M")
        self.status.value = f"Waiting for sign-in (code valid until {local})..."
        if self._display:
            from IPython.display import display

            display(self.widget)  # type: ignore[no-untyped-call]

    def waiting(self, seconds_left: float) -> None:
        """Update the countdown.

        Example
        -------
        >>> prompt = DeviceCodePrompt(display=False)
        >>> prompt.waiting(90)
        >>> prompt.status.value
        'Waiting for sign-in... 1:30 left'
        """
        minutes, seconds = divmod(int(seconds_left), 60)
        self.status.value = f"Waiting for sign-in... {minutes}:{seconds:02d} left"

    def finished(self, *, success: bool, message: str) -> None:
        """Replace the code with the outcome: one line on success, the reason on failure.

        Example
        -------
        >>> prompt = DeviceCodePrompt(display=False)
        >>> prompt.finished(success=False, message="Sign-in was declined.")
        >>> prompt.outcome
        'failure'
        """
        self.outcome = "success" if success else "failure"
        self.link.value = ""
        self.code.value = ""
        self.copy.value = ""
        self.details.layout.display = "none"
        self.link.layout.display = "none"
        self.title.layout.display = "none"
        color = "green" if success else "#b00"
        mark = "&#10003;" if success else "&#10007;"
        self.status.value = f"<span style='color:{color}'>{mark} {html.escape(message)}</span>"
