"""The emulator listens on 127.0.0.1 only: its sockets, the machine's other addresses, ``--host``.

Token validation (signature, audience, issuer, expiry, algorithm, key) is tested at the
gateway: ``tests/emulator/test_gateway.py::test_rejected_tokens``.
"""

from __future__ import annotations

import contextlib
import socket

import pytest

from ci_toolkit.cli import main
from ci_toolkit.emulator import Emulator, EmulatorConfig


def _other_addresses() -> list[tuple[int, str]]:
    """Addresses of this machine other than 127.0.0.1: another loopback address (always
    there on Linux), IPv6 loopback, the hostname's and the outbound interface's addresses."""
    found: set[tuple[int, str]] = {(socket.AF_INET, "127.0.0.2"), (socket.AF_INET6, "::1")}
    with contextlib.suppress(OSError):
        for family, _, _, _, address in socket.getaddrinfo(socket.gethostname(), None):
            found.add((family, str(address[0])))
    for family, probe in ((socket.AF_INET, "192.0.2.255"), (socket.AF_INET6, "2001:db8::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect((probe, 9))  # no packet is sent: this picks the outbound interface
            found.add((family, str(udp.getsockname()[0])))
    return sorted(a for a in found if a[1] != "127.0.0.1")


def _accepts(family: int, address: str, port: int) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect((address, port))
        except OSError:  # refused, unreachable or no such address family here
            return False
        return True


def test_the_emulator_binds_127_0_0_1_only(vault: Emulator) -> None:
    server = vault._server
    assert server is not None
    bound = [sock.getsockname() for srv in server.servers for sock in srv.sockets]
    assert bound
    assert {address[0] for address in bound} == {"127.0.0.1"}


def test_the_emulator_does_not_answer_on_other_addresses(vault: Emulator) -> None:
    port = int(vault.settings.base_url.split(":")[2].split("/")[0])
    assert _accepts(socket.AF_INET, "127.0.0.1", port)  # the probe works
    others = _other_addresses()
    assert (socket.AF_INET, "127.0.0.2") in others
    answered = [address for family, address in others if _accepts(family, address, port)]
    assert answered == []


def test_the_probe_sees_a_listener_on_another_address() -> None:
    """The probe above can fail: a socket listening on 127.0.0.2 (as one bound to 0.0.0.0
    would) is found, and one on 127.0.0.1 only is not."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.2", 0))
        other.listen(1)
        assert _accepts(socket.AF_INET, "127.0.0.2", other.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as local:
        local.bind(("127.0.0.1", 0))
        local.listen(1)
        assert not _accepts(socket.AF_INET, "127.0.0.2", local.getsockname()[1])


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "localhost"])
def test_the_cli_refuses_other_hosts(host: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["emulator", "--host", host, "--port", "0"])
    assert info.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"--host: '{host}': the emulator listens on 127.0.0.1 only" in error
    assert "ssh -L" in error  # what to do instead


def test_the_emulator_has_no_host_setting() -> None:
    with pytest.raises(TypeError):
        Emulator(EmulatorConfig(), host="0.0.0.0")
