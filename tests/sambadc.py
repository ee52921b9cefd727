"""A throwaway Samba AD domain controller on loopback, for the ``dc`` tests.

The recipe is the one in ``reference/samba-dc.md``: provision into a temporary
directory with ``interfaces=lo`` and ``bind interfaces only``, start ``samba`` in
the foreground with a maximum runtime (a safety net should the test runner die),
wait until LDAP answers, and stop it by its PID. Nothing here installs anything.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

REALM = "CORP.CONTOSO.COM"
NETBIOS = "CORP"
PASSWORD = "Cmfw-Test-Passw0rd!"
DEBIAN_PYTHON = "/usr/bin/python3"
LDAP_HELPER = Path(__file__).with_name("samba_ldap.py")
MAX_RUNTIME = 600  # seconds; samba exits by itself after this, whatever happens to the tests
PORTS = (88, 389, 445, 636)


def unavailable() -> str | None:
    """Why a DC cannot run here, or ``None`` when it can."""
    if shutil.which("samba-tool") is None or shutil.which("samba") is None:
        return "samba-tool/samba not installed (apt-get install samba samba-ad-dc samba-ad-provision python3-samba)"
    if not Path("/usr/share/samba/setup").is_dir():
        return "Samba's provision data is missing (apt-get install samba-ad-provision)"
    if subprocess.run([DEBIAN_PYTHON, "-c", "import samba.samdb"], capture_output=True).returncode != 0:
        return f"{DEBIAN_PYTHON} cannot import samba (apt-get install python3-samba)"
    if os.geteuid() != 0:
        return "a Samba AD DC must be provisioned and run as root"
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return f"port {port} on 127.0.0.1 is already in use"
    return None


@dataclass
class SambaDC:
    root: Path
    process: subprocess.Popen[bytes] | None = None
    descendants: set[int] = field(default_factory=set)

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "smb.conf"

    @property
    def url(self) -> str:
        return "ldap://127.0.0.1"

    @property
    def auth(self) -> list[str]:
        return ["-s", str(self.conf), "-H", self.url, "-U", "Administrator", f"--password={PASSWORD}", "--use-kerberos=off"]

    @property
    def sysvol(self) -> Path:
        return self.root / "state" / "sysvol" / REALM.lower() / "Policies"

    # -- life cycle ---------------------------------------------------------------------------

    def provision(self) -> None:
        (self.root / "run").mkdir(parents=True)
        (self.root / "log").mkdir()
        self._run(
            "samba-tool", "domain", "provision", f"--realm={REALM}", f"--domain={NETBIOS}", "--server-role=dc",
            "--dns-backend=NONE", "--use-rfc2307", f"--adminpass={PASSWORD}", f"--targetdir={self.root}",
            "--host-name=dc1", "--option=interfaces=lo", "--option=bind interfaces only=yes",
            f"--option=pid directory={self.root}/run", f"--option=ncalrpc dir={self.root}/run/ncalrpc",
            f"--option=log file={self.root}/log/log.%m",
        )

    def start(self) -> None:
        log = open(self.root / "log" / "samba.log", "wb")  # noqa: SIM115 - lives as long as the DC
        self.process = subprocess.Popen(
            ["samba", "-s", str(self.conf), "-F", "-M", "single", "--debug-stdout", "-d1", f"--maximum-runtime={MAX_RUNTIME}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"samba exited with {self.process.returncode}: {self.log()[-2000:]}")
            if self._ports_open() and self._run_ok("samba-tool", "gpo", "listall", *self.auth):
                self.descendants = descendants(self.process.pid)
                return
            time.sleep(0.25)
        raise RuntimeError(f"samba did not answer within 60 s: {self.log()[-2000:]}")

    def stop(self) -> list[str]:
        """Stop the DC by its PID; what is still running afterwards (should be nothing)."""
        if self.process is None:
            return []
        self.descendants |= descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        left = []
        deadline = time.monotonic() + 10
        for pid in sorted(self.descendants):
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                left.append(f"{pid} {_comm(pid)}")
                os.kill(pid, signal.SIGKILL)
        self.process = None
        return left

    # -- looking at it --------------------------------------------------------------------------

    def log(self) -> str:
        path = self.root / "log" / "samba.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def listening(self) -> list[tuple[str, str, int]]:
        """(protocol, address, port) of every socket the DC's processes have bound."""
        inodes: set[str] = set()
        for pid in {self.process.pid} | descendants(self.process.pid) if self.process else set():
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except (FileNotFoundError, PermissionError):
                continue
        found = []
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            table = Path(f"/proc/net/{proto}")
            if not table.exists():
                continue
            for line in table.read_text().splitlines()[1:]:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if inode in inodes and (proto.startswith("udp") or state == "0A"):  # 0A: LISTEN
                    address, port = _address(local)
                    found.append((proto, address, port))
        return sorted(set(found))

    def gpos(self) -> dict[str, dict[str, object]]:
        """Every GPO by GUID: display name, version, extension names, file system path (LDAP)."""
        return self._ldap("gpos")["gpos"]

    def gplink(self, dn: str) -> str:
        return self._ldap("gplink", dn)["gplink"]

    def set_attribute(self, guid: str, name: str, value: str) -> None:
        self._ldap("set", guid, name, value)

    def fetch(self, guid: str, into: Path) -> Path:
        """``samba-tool gpo fetch``: the GPO's SYSVOL folder, copied over SMB into ``into``."""
        into.mkdir(parents=True, exist_ok=True)
        self._run("samba-tool", "gpo", "fetch", guid, f"--tmpdir={into}", *self.auth)
        return into / "policy" / guid  # where samba-tool puts it

    def samba_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["samba-tool", *args, *self.auth], capture_output=True, text=True, timeout=120)

    # -- helpers ---------------------------------------------------------------------------------

    def _ldap(self, *args: str) -> dict:
        done = subprocess.run(
            [DEBIAN_PYTHON, str(LDAP_HELPER), str(self.conf), self.url, PASSWORD, *args],
            capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"samba_ldap.py {' '.join(args)} failed: {done.stderr}")
        return json.loads(done.stdout)

    def _run(self, *command: str) -> None:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} {command[1]} failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def _run_ok(self, *command: str) -> bool:
        return subprocess.run(command, capture_output=True, timeout=60).returncode == 0

    def _ports_open(self) -> bool:
        for port in (389, 445):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) != 0:
                    return False
        return True


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc/*/stat), whatever its session."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return "?"


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = ipaddress.IPv4Address(raw[::-1])
    else:  # four little-endian 32-bit words
        ip = ipaddress.IPv6Address(b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))
    return str(ip), int(port, 16)


def is_loopback(address: str) -> bool:
    """Loopback, or the loopback network's broadcast that nbt binds for lo."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
