"""A locally generated CA and server certificate for the emulator's HTTPS (trustme).

Example
-------
>>> with TlsFiles.create() as tls:  # doctest: +SKIP
...     print(tls.ca_file.read_text()[:27])
-----BEGIN CERTIFICATE-----
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import trustme

__all__ = ["TlsFiles"]

logger = logging.getLogger(__name__)

#: Names the server certificate is valid for (the emulator only listens on 127.0.0.1).
SERVER_NAMES = ("127.0.0.1", "localhost")


@dataclass
class TlsFiles:
    """PEM files of a fresh CA and a server certificate signed by it.

    Attributes
    ----------
    ca_file
        The CA certificate clients must trust (``verify=ca_file``).
    cert_file
        The server certificate chain.
    key_file
        The server's private key.
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, directory: Path | None = None) -> TlsFiles:
        """Generate the CA and certificate and write them to ``directory`` (a temp dir if None)."""
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            tmp = tempfile.TemporaryDirectory(prefix="ci-emulator-tls-")
            directory = Path(tmp.name)
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="ci-toolkit emulator")
        cert = ca.issue_cert(*SERVER_NAMES)
        files = cls(
            ca_file=directory / "ca.pem",
            cert_file=directory / "server.pem",
            key_file=directory / "server-key.pem",
            _tmp=tmp,
        )
        ca.cert_pem.write_to_path(str(files.ca_file))
        cert.private_key_pem.write_to_path(str(files.key_file))
        files.key_file.chmod(0o600)
        with files.cert_file.open("wb") as out:
            for blob in cert.cert_chain_pems:
                out.write(blob.bytes())
        logger.debug("TLS files written to %s", directory)
        return files

    def cleanup(self) -> None:
        """Remove the files if they live in a temporary folder."""
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TlsFiles:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
