"""The systemd units in ``deploy/`` as systemd reads them: ``systemd-analyze verify`` has nothing to say of them,
installed in a root laid out as on a server, and ``systemd-analyze security`` rates their sandboxing. A broken unit is
caught."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = {path.name: path.read_text() for path in sorted(DEPLOY.glob("*.service"))}
ANALYZE = shutil.which("systemd-analyze")
SYSTEM_UNITS = next((p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None)
# What `python3 -m venv /opt/newtel-bot/.venv` and `pip install .` leave for the units to run.
VENV_COMMANDS = ("/opt/newtel-bot/.venv/bin/python", "/opt/newtel-bot/.venv/bin/litestream")
# systemd-analyze security's exposure, 0-10 ("OK" up to 3.9): the units have 1.7, and 9.2 without their sandboxing.
EXPOSURE_AT_MOST = 2.0

pytestmark = [
    pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed"),
    pytest.mark.skipif(SYSTEM_UNITS is None, reason="no systemd unit directory (for the targets the units name)"),
]


def server_root(root: Path, units: dict[str, str]) -> list[Path]:
    """``units`` installed under ``root`` as on a server: this system's own units beside them (the targets they order
    against), and the bot's virtualenv. The installed unit files, in order."""
    assert SYSTEM_UNITS is not None
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for command in VENV_COMMANDS:
        stub = root / command.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for name, text in units.items():
        (installed / name).write_text(text)
    return [installed / name for name in units]


def analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run([ANALYZE, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


def verify(root: Path, units: dict[str, str]) -> str:
    """What ``systemd-analyze verify`` says of ``units``: "" when nothing. A setting it cannot parse is only a warning
    ("ignoring"), with exit status 0, so whatever it prints counts."""
    done = analyze("verify", f"--root={root}", "--man=no", *server_root(root, units))
    said = (done.stdout + done.stderr).strip()
    return said + (f"\n(exit status {done.returncode})" if done.returncode else "")


def test_systemd_has_nothing_to_say_of_the_units(tmp_path: Path) -> None:
    assert set(UNITS) == {"newtel-bot.service", "newtel-bot-litestream.service"}
    assert verify(tmp_path, UNITS) == ""


BREAKAGES = {
    "a misspelt setting": ("ProtectSystem=strict", "ProtectSytem=strict"),
    "an exit status that is not one": ("RestartPreventExitStatus=2", "RestartPreventExitStatus=two"),
    "an unknown system call group": ("SystemCallFilter=@system-service", "SystemCallFilter=@system-servic"),
    "a command not installed there": ("/opt/newtel-bot/.venv/bin/python", "/opt/newtel-bot/venv/bin/python"),
    "a misspelt section": ("[Service]", "[Servce]"),
}


@pytest.mark.parametrize(("old", "new"), BREAKAGES.values(), ids=BREAKAGES.keys())
def test_a_broken_unit_is_caught(tmp_path: Path, old: str, new: str) -> None:
    unit = UNITS["newtel-bot.service"]
    assert old in unit
    assert verify(tmp_path, {"newtel-bot.service": unit.replace(old, new)}) != ""


def sandboxed(root: Path, name: str, text: str) -> bool:
    """Whether ``systemd-analyze security`` rates the unit's exposure at most ``EXPOSURE_AT_MOST``."""
    (unit,) = server_root(root, {name: text})
    threshold = f"--threshold={round(EXPOSURE_AT_MOST * 10)}"  # in tenths
    return analyze("security", "--offline=yes", f"--root={root}", threshold, "--no-pager", unit).returncode == 0


@pytest.mark.parametrize("name", UNITS)
def test_the_units_are_sandboxed(tmp_path: Path, name: str) -> None:
    assert sandboxed(tmp_path, name, UNITS[name])


def test_an_unsandboxed_unit_is_caught(tmp_path: Path) -> None:
    sandboxing = ("NoNewPrivileges", "Protect", "Private", "Restrict", "SystemCall", "Capability", "LockPersonality")
    bare = "\n".join(line for line in UNITS["newtel-bot.service"].splitlines() if not line.startswith(sandboxing))
    assert not sandboxed(tmp_path, "newtel-bot.service", bare)
