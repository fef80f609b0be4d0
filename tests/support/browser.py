"""A real browser for anything a person looks at: Debian's chromium, headless.

`make test` installs it (`make browser`); a machine without it fails these tests with that
instruction rather than skipping them, so a report nobody rendered is never called tested.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# A headless page render takes about a second; a hang fails with the command named.
RENDER_TIMEOUT_S = 60


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (Debian's chromium package)")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-extensions", "--hide-scrollbars",
        # Its own profile: two renders at once do not share a locked profile folder.
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False
    )
    assert completed.returncode == 0, f"{' '.join(command)} failed:\n{completed.stderr}"
    return completed


def rendered_dom(page: Path, profile: Path) -> str:
    """The page's DOM after chromium parsed and laid it out."""
    return _chromium(profile, "--dump-dom", page.resolve().as_uri()).stdout


def screenshot(
    page: Path, png: Path, profile: Path, *, width: int = 1280, height: int = 1800
) -> Path:
    """A PNG of the page as a person would see it in a window of that size."""
    _chromium(profile, f"--window-size={width},{height}", f"--screenshot={png}",
              page.resolve().as_uri())  # fmt: skip
    return png
