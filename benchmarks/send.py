"""Benchmark: sending an issue to 10,000 subscribers through a loopback SMTP sink.

Prints messages per second of `digest send` (ledger, per-recipient
messages, concurrency), the same figure for a bare `smtplib` loop sending
the same number of pre-built messages over one connection in the same run,
their ratio (target: at least 0.7), and the peak memory of `digest send`
for 2,000 and for 10,000 subscribers (target: flat).

    python benchmarks/send.py [--subscribers 10000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                             "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("the aiosmtpd sink did not start")


def workspace(root: Path, subscribers: int, port: int) -> Path:
    """A demo workspace with the sample issue approved and ``subscribers`` active readers."""
    env = dict(os.environ)
    home = root / f"ws-{subscribers}"
    subprocess.run([sys.executable, "-m", "alliance_digest", "demo", str(home)], env=env, check=True,
                   capture_output=True)
    text = (home / "digest.toml").read_text()
    for key, value in {"smtp_host": '"127.0.0.1"', "smtp_port": str(port), "smtp_security": '"none"',
                       "rate_per_second": "0", "concurrency": "4"}.items():
        lines = [f"{key} = {value}" if line.startswith(f"{key} = ") else line for line in text.splitlines()]
        text = "\n".join(lines) + "\n"
    (home / "digest.toml").write_text(text)
    code = f"""
import os
os.environ['DIGEST_HOME'] = {str(home)!r}
from alliance_digest.workspace import open_workspace
_, profile = open_workspace({str(home)!r})
from alliance_digest.db.models import Subscriber
Subscriber.objects.bulk_create([Subscriber(email=f'r{{i}}@example.com', email_normalized=f'r{{i}}@example.com',
                                           status='active') for i in range({subscribers})], batch_size=2000)
from alliance_digest import delivery, services
delivery.approve(profile, services.find_issue('latest'))
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
    return home


def timed_send(home: Path) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of `digest send latest` in a child process."""
    code = ("import resource, sys, time\nfrom alliance_digest.cli import cli\nt = time.perf_counter()\n"
            "try:\n    cli(['send', 'latest'], prog_name='digest')\nexcept SystemExit as e:\n    code = e.code\n"
            "print('SECONDS', time.perf_counter() - t)\n"
            "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)\nsys.exit(code or 0)\n")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, DIGEST_HOME=str(home)),
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"digest send failed:\n{out.stdout}\n{out.stderr}")
    figures = dict(line.split() for line in out.stdout.splitlines() if line.startswith(("SECONDS", "RSS")))
    return float(figures["SECONDS"]), int(figures["RSS"])


def bare_loop(home: Path, count: int, port: int) -> float:
    """messages/s of one smtplib connection sending pre-built messages of the same issue."""
    code = f"""
import smtplib, time
from alliance_digest.workspace import open_workspace
_, profile = open_workspace({str(home)!r})
from alliance_digest import delivery, services
factory = delivery.MessageFactory(profile, services.find_issue('latest'))
messages = [factory.build(f'bare{{i}}@example.com', '', f'https://x.example/u/{{i}}/') for i in range({count})]
conn = smtplib.SMTP('127.0.0.1', {port})
t = time.perf_counter()
for i, m in enumerate(messages):
    conn.sendmail('digest@example.org', [f'bare{{i}}@example.com'], m.data)
print(time.perf_counter() - t)
conn.quit()
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return count / float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="digest-send-bench-"))
    port = free_port()
    sink = start_sink(port)
    try:
        small = workspace(root, 2000, port)
        large = workspace(root, args.subscribers, port)
        small_s, small_rss = timed_send(small)
        large_s, large_rss = timed_send(large)
        bare = bare_loop(large, args.subscribers, port)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)
    ours = args.subscribers / large_s
    print(f"digest send:      {args.subscribers} messages in {large_s:6.2f} s = {ours:7.1f} msg/s")
    print(f"bare smtplib:     {bare:7.1f} msg/s (one connection, pre-built messages)")
    print(f"ratio:            {ours / bare:.2f}  (target >= 0.7)")
    print(f"peak memory:      {small_rss / 2**20:.0f} MiB for 2,000; {large_rss / 2**20:.0f} MiB for "
          f"{args.subscribers:,} (ratio {large_rss / small_rss:.2f}, target ~1: flat)")
    sys.exit(0 if ours / bare >= 0.7 and large_rss / small_rss < 1.3 else 1)


if __name__ == "__main__":
    main()
