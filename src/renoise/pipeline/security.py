"""Who may reach a dask cluster: mutual TLS for a client of a scheduler, a throw-away certificate
for the clusters renoise starts, and the dashboard's address.

A dask scheduler runs whatever a client sends it, and its transport is pickle: on a shared machine
anyone who reaches a plain ``tcp://`` port can run code as the researcher. So a ``tls://`` address
needs readable certificates before anything connects, plain TCP to another host warns once, and a
local cluster's dashboard listens on loopback unless ``--dashboard`` exposes it deliberately.
Every bad input is a one-line :class:`~renoise.errors.ConfigError`, raised before anything starts.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path
from typing import Callable

from renoise.errors import ConfigError

#: Where a local cluster's dashboard listens unless ``--dashboard`` says otherwise: this machine only.
LOCAL_DASHBOARD = "127.0.0.1:8787"
#: The client's TLS files: the flag that gives each, and its key in dask's configuration.
TLS_FILES = {"tls_ca_file": ("--tls-ca-file", "distributed.comm.tls.ca-file"),
             "tls_client_cert": ("--tls-cert", "distributed.comm.tls.client.cert"),
             "tls_client_key": ("--tls-key", "distributed.comm.tls.client.key")}
#: Host names that mean this machine.
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def client_security(address: str, files: dict[str, str | None], warn: Callable[[str], None]):
    """The :class:`~distributed.security.Security` for a client of the scheduler at ``address``:
    mutual TLS from ``files`` (by :data:`TLS_FILES` name: the flags), else from dask's configuration;
    None for plain TCP, with one ``warn``ing when the host is not this machine. Every file must be
    readable and a ``tls://`` address needs them all: else a :class:`ConfigError`, before anything connects."""
    import dask.config
    from distributed.security import Security

    given = {name: path for name, path in files.items() if path}
    configured = {name: dask.config.get(key, None) for name, (_, key) in TLS_FILES.items()}
    chosen = given if given else {name: path for name, path in configured.items() if path}
    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if scheme != "tls":
        if given:
            raise ConfigError(f"--tls-* flags need a tls:// scheduler address, got {address}")
        if urllib.parse.urlsplit(f"tcp://{address.split('://')[-1]}").hostname not in LOOPBACK:
            warn(f"renoise: warning: {address} is plain TCP: anyone who can reach the port can run code as you; "
                 "use tls:// with certificates (see the README)")
        return None
    for name, (flag, key) in TLS_FILES.items():
        if name not in chosen:
            raise ConfigError(f"{address}: a tls:// address needs certificates: give --tls-ca-file, --tls-cert and "
                              f"--tls-key, or set distributed.comm.tls.* in dask's configuration (missing {flag})")
        _readable(chosen[name], flag if given else key)
    return Security(**chosen, require_encryption=True)


def temporary_security(folder: Path):
    """A fresh mutual-TLS certificate (``Security.temporary()``) written to ``folder`` with mode 0600,
    and the file-based Security that the scheduler, the jobs and this client share; the files, for
    ``renoise --tls-*``."""
    from distributed.security import Security

    made = Security.temporary()
    folder.mkdir(mode=0o700, exist_ok=True)
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    for name, text in (("ca", made.tls_ca_file), ("cert", made.tls_client_cert), ("key", made.tls_client_key)):
        descriptor = os.open(files[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # also where an older file had another mode
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
    paths = {role: str(path) for role, path in files.items()}
    security = Security(tls_ca_file=paths["ca"], tls_client_cert=paths["cert"], tls_client_key=paths["key"],
                        tls_scheduler_cert=paths["cert"], tls_scheduler_key=paths["key"],
                        tls_worker_cert=paths["cert"], tls_worker_key=paths["key"], require_encryption=True)
    return security, paths


def _readable(path: str, what: str) -> None:
    """Raise a one-line :class:`ConfigError` when ``path`` (given by ``what``) cannot be read."""
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def dashboard_address(text: str) -> str:
    """``--dashboard``'s ``HOST:PORT`` (``:PORT`` for every interface), checked: a malformed address
    is a :class:`ConfigError` before anything starts."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535 or any(c in host for c in "/ "):
        raise ConfigError(f"--dashboard: expected HOST:PORT such as 127.0.0.1:8787 or 0.0.0.0:8787, got {text!r}")
    return text


def describe_dashboard(link: str) -> str:
    """The dashboard's address, with the ``ssh -L`` tunnel that reaches it from another machine when it
    listens on loopback only."""
    url = urllib.parse.urlsplit(link)
    if url.hostname not in LOOPBACK:
        return link
    port = url.port or 80
    return f"{link} (this machine only; from yours: ssh -L {port}:127.0.0.1:{port} {socket.gethostname()})"
