"""Tools the local servers need from the operating system (Java, Maven, ClickHouse)."""

from __future__ import annotations

import os
import shutil
import subprocess

from infra.errors import InfraError

# Debian installs server binaries under sbin, which a non-login PATH may lack.
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def find_command(name: str) -> str | None:
    return shutil.which(name, path=_SEARCH_PATH)


def ensure_command(name: str, debian_packages: list[str]) -> str:
    """Return the path of `name`, installing its Debian packages if we run as root."""
    found = find_command(name)
    if found:
        return found
    if os.geteuid() != 0 or not find_command("apt-get"):
        raise InfraError(
            f"'{name}' is not installed; install it first "
            f"(Debian: sudo apt-get install {' '.join(debian_packages)})"
        )
    apt_install(debian_packages)
    found = find_command(name)
    if not found:
        raise InfraError(f"installed {' '.join(debian_packages)} but '{name}' is still missing")
    return found


def apt_install(packages: list[str]) -> None:
    """apt-get install, refreshing the package lists once if the first try fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    if subprocess.run(command, env=env, capture_output=True).returncode == 0:
        return
    subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise InfraError(f"apt-get install {' '.join(packages)} failed:\n{result.stderr[-2000:]}")
