"""The device code prompt for notebooks: the code, a copy button, the link and live status.

It is a device code callback ``(verification_uri, user_code, expires_on)`` that also hears
the progress (:class:`~ci_toolkit.auth.SignInObserver`): a countdown while waiting, then one
line saying "Signed in as ..." (the code and the link are removed) or why sign-in failed.

While the sign-in waits, the kernel is busy with the cell that called ``connect()``: it still
sends widget updates (the countdown moves), but would not handle a click until the cell
ends. So nothing here needs the kernel: the link is a plain link, and the copy button is a
browser button copying the code with ``navigator.clipboard`` (a one-line handler, the only
way to reach the browser's clipboard; copying in the kernel would copy on the server). If a
front end strips it, the code is still one click to select (``user-select: all``), and the
link is written out as text, so it can be copied where it cannot be clicked. A front end
that cannot render widgets at all (a console, a notebook viewer, ``nbconvert``) shows the
output's plain-text form instead: the same sentence :class:`~ci_toolkit.auth.TerminalPrompt`
prints, with the link and the code.

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
from typing import Any

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
    text
        The instructions as one plain sentence (link, code, expiry), shown by front ends
        without widgets.

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
        self.text = ""
        self._handle: Any = None

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
        self.text = (
            f"To sign in to Customer Insights, open {verification_uri} and enter the code "
            f"{user_code} (valid until {local})."
        )
        if self._display:
            from IPython.display import display

            self._handle = display(self.bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def bundle(self) -> dict[str, Any]:
        """The output to display: the widget, and the instructions as plain text.

        Front ends that render widgets show the widget; any other shows the text (ipywidgets'
        own plain-text form would be the widget's repr, useless to a person signing in).

        Example
        -------
        >>> from datetime import UTC
        >>> prompt = DeviceCodePrompt(display=False)
        >>> prompt("https://x.example/devicelogin", "ABCD1234", datetime(2030, 1, 1, tzinfo=UTC))
        >>> "enter the code ABCD1234" in prompt.bundle()["text/plain"]
        True
        """
        data: dict[str, Any] = dict(self.widget._repr_mimebundle_() or {})
        data["text/plain"] = self.text or "Sign in to Customer Insights"
        return data

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
        self.text = message  # the code is spent: the plain-text form says how it ended
        if self._handle is not None:
            self._handle.update(self.bundle(), raw=True)
