"""``InstancePicker``: a dropdown of the instances; choosing one switches the session to it.

Example
-------
>>> from ci_toolkit.widgets import InstancePicker, SegmentExplorer
>>> picker = InstancePicker(ci)  # doctest: +SKIP
>>> explorer = SegmentExplorer(ci)  # doctest: +SKIP
>>> picker.on_change(lambda instance_id: explorer.reload())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from ci_toolkit.widgets._common import CIWidget

if TYPE_CHECKING:
    from ci_toolkit.client import CustomerInsights

__all__ = ["InstancePicker"]

logger = logging.getLogger(__name__)


class InstancePicker(CIWidget):
    """Pick the instance the client works on (``ci.use_instance``) from a dropdown.

    Parameters
    ----------
    ci
        The client; its current instance is preselected.

    Attributes
    ----------
    dropdown : ipywidgets.Dropdown
        Options "name (type)" -> instance id.
    instances : pandas.DataFrame or None
        The instances as last loaded.

    Example
    -------
    >>> picker = InstancePicker(ci)  # doctest: +SKIP
    >>> picker.value = sandbox_id  # doctest: +SKIP
    >>> picker.wait_idle(); ci.instance_id == sandbox_id  # doctest: +SKIP
    True
    """

    def __init__(self, ci: CustomerInsights, **kwargs: Any) -> None:
        super().__init__(ci, **kwargs)
        self.instances: Any = None
        self._callbacks: list[Callable[[str], object]] = []
        self._loading = False
        self.dropdown = widgets.Dropdown(description="Instance", options=[], disabled=True)
        self.dropdown.layout.width = "28em"
        self.dropdown.observe(self._picked, names="value")
        self.reload_button = widgets.Button(icon="refresh", tooltip="Reload the instances")
        self.reload_button.layout.width = "3em"
        self.reload_button.on_click(lambda _: self.reload())
        self.buttons = {"reload": self.reload_button}
        self.children = [widgets.HBox([self.dropdown, self.reload_button]), self.message]
        self.reload()

    @property
    def value(self) -> str | None:
        """The chosen instance id (setting it switches the client)."""
        value = self.dropdown.value
        return None if value is None else str(value)

    @value.setter
    def value(self, instance_id: str) -> None:
        self.dropdown.value = instance_id

    def on_change(self, callback: Callable[[str], object]) -> None:
        """Call ``callback(instance_id)`` after the client switched to another instance."""
        self._callbacks.append(callback)

    def reload(self) -> None:
        """Load the instance list again (in the background)."""
        self.submit(self._load)

    def _load(self) -> None:
        frame = self.ci.instances()
        self.instances = frame
        options = [
            (f"{row.name} ({row.instanceType})", str(row.instanceId))
            for row in frame.itertuples(index=False)
        ]
        current = self.ci.instance_id
        self._loading = True
        try:
            self.dropdown.options = options
            ids = [v for _, v in options]
            if current in ids:
                self.dropdown.value = current
        finally:
            self._loading = False
        self.dropdown.disabled = not options
        if not options:
            self.say("This identity sees no instances.")
        else:
            self.say(f"Using {self._label(current)}.")

    def _label(self, instance_id: str | None) -> str:
        for label, value in self.dropdown.options:
            if value == instance_id:
                return str(label)
        return str(instance_id)

    def _picked(self, change: dict[str, Any]) -> None:
        if self._loading or change["new"] is None or change["new"] == change["old"]:
            return
        self.submit(self._switch, str(change["new"]))

    def _switch(self, instance_id: str) -> None:
        if instance_id == self.ci.instance_id:
            return
        self.ci.use_instance(instance_id)
        logger.info("Switched to instance %s", instance_id)
        self.say(f"Using {self._label(instance_id)}.")
        for callback in list(self._callbacks):
            callback(instance_id)
