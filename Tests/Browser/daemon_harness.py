"""Running the built `karyocount watch` daemon on temporary folders, for the browser test and the benchmarks that
talk to its review station."""

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(root: Path, watch_root: Path, port: int, **settings) -> Path:
    """root/config.toml: the watch root, output and state under `root`, the review station on `port`, and each
    of `settings` as a top-level key (strings quoted)."""
    lines = [f'watch_roots = ["{watch_root}"]', f'output_root = "{root / "out"}"', f'state_dir = "{root / "state"}"']
    lines += [f"{key} = {json.dumps(value) if isinstance(value, str) else value}" for key, value in settings.items()]
    config = root / "config.toml"
    config.write_text("\n".join(lines) + f'\n[review]\nlisten = "127.0.0.1:{port}"\n')
    return config


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def images_counted(base: str) -> int:
    """The images counted over all patients, as the review station's API says; -1 while it does not answer."""
    try:
        return sum(p["images_counted"] for p in get_json(base + "/api/patients"))
    except OSError:
        return -1


def wait_until_counted(daemon: subprocess.Popen, base: str, expected: int, timeout: float = 300) -> bool:
    """Waits until `expected` images are counted; False when the daemon exits or the time runs out first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if images_counted(base) >= expected:
            return True
        if daemon.poll() is not None:
            return False
        time.sleep(0.3)
    return False
