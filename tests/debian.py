"""Debian packages that tests need, installed with apt-get when they are missing.

:func:`require_debian_package` is the one way a fixture gets a system package (Debian's
``chromium`` for the browser suite, ``fonts-noto-cjk`` for the PDF's Japanese text): when
``present()`` says no, it runs ``apt-get update`` and ``apt-get install -y PACKAGE``; if that
fails, the test fails under CI (``CI`` set) and is skipped, with the reason, anywhere else.
"""

import os
import shutil
import subprocess
from collections.abc import Callable

import pytest

__all__ = ["APT_TIMEOUT", "install_debian_package", "require_debian_package", "under_ci"]

APT_TIMEOUT = 900.0


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        stdin=subprocess.DEVNULL,
    )


def install_debian_package(package: str) -> str | None:
    """``apt-get update; apt-get install -y package``: None when it worked, else what went
    wrong."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available on this machine"
    wait = "DPkg::Lock::Timeout=300"  # another apt-get may hold the lock for a while
    for command in (
        ["apt-get", "-o", wait, "update"],
        ["apt-get", "-o", wait, "install", "-y", package],
    ):
        try:
            done = _run(command, APT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(command)}` did not finish: {error}"
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
            return f"`{' '.join(command)}` exited with {done.returncode}:\n{tail}"
    return None


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_debian_package(package: str, present: Callable[[], bool], *, needed_for: str) -> None:
    """Make sure ``package`` is installed (``present()`` checks what the tests use), else
    fail under CI or skip, saying that ``needed_for`` needs it and why installing failed."""
    if present():
        return
    problem = install_debian_package(package)
    if problem is None and not present():
        problem = f"apt-get installed {package} but it is still not usable"
    if problem is None:
        return
    message = (
        f"{needed_for} need Debian's {package}, and installing it "
        f"(apt-get update; apt-get install -y {package}) failed: {problem}"
    )
    if under_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
