"""Fixtures for headless widget tests: clients on the session emulator, widgets closed after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from ci_toolkit.client import CustomerInsights
from ci_toolkit.emulator import Emulator
from ci_toolkit.widgets._common import CIWidget
from tests.client.conftest import make_session

W = TypeVar("W", bound=CIWidget)

#: Seconds a test waits for a widget's background work at most.
IDLE = 30.0


def client(emulator: Emulator, role: str = "admin") -> CustomerInsights:
    """A fresh client of its own (switching its instance affects no other test)."""
    return CustomerInsights(make_session(emulator, role), instance_id=emulator.settings.instance_id)


@pytest.fixture
def admin(emulator: Emulator) -> Iterator[CustomerInsights]:
    """An admin client on the demo production instance."""
    with client(emulator, "admin") as ci:
        yield ci


@pytest.fixture
def viewer(emulator: Emulator) -> Iterator[CustomerInsights]:
    """A viewer client on the demo production instance."""
    with client(emulator, "viewer") as ci:
        yield ci


@pytest.fixture
def make() -> Iterator[Callable[..., Any]]:
    """Build a widget, wait until its first load is done, and close it after the test."""
    made: list[CIWidget] = []

    def build(cls: type[W], *args: Any, **kwargs: Any) -> W:
        widget = cls(*args, **kwargs)
        made.append(widget)
        assert widget.wait_idle(IDLE), f"{cls.__name__} did not finish loading"
        return widget

    yield build
    for widget in made:
        widget.close()


def settle(widget: CIWidget) -> None:
    """Wait for a widget's background work (fails the test on a timeout)."""
    assert widget.wait_idle(IDLE), f"{type(widget).__name__} still busy after {IDLE} s"
