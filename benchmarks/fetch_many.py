"""Benchmark: the polite fetcher reading 500 feeds and 5,000 pages from 50 loopback hosts.

A separate process serves 50 "hosts" (50 ports on 127.0.0.1: the fetcher
keys hosts by host:port) with raw asyncio streams; each host has 10 feeds
and 100 article pages, answered after a small service time. Everything is
fetched through one ``fetch_all`` with one request at a time per host and a
per-host delay between request starts, as a polite run would. Prints the
wall time, the ideal (the slowest host's serialised time: its request count,
robots.txt included, times max(delay, service time)), their ratio (target
under 1.3), what the server saw (peak concurrency and smallest gap between
request starts per host) and the fetcher's peak memory.

    python benchmarks/fetch_many.py [--hosts 50] [--delay 0.25] [--service-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def feed_body(host: int, number: int) -> bytes:
    items = "".join(
        f"<item><title>Host {host} feed {number} story {i}: US and Japan agree on closer defence ties</title>"
        f"<link>https://host{host}.example/story/{number}/{i}</link><guid>h{host}-f{number}-{i}</guid>"
        f"<pubDate>Mon, 02 Nov 2026 09:{i:02d}:00 GMT</pubDate>"
        f"<description>Officials in Tokyo and Washington said talks went well, part {i}.</description></item>"
        for i in range(10))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Host {host} feed {number}'
            f"</title><link>https://host{host}.example/</link><description>bench</description>{items}"
            "</channel></rss>").encode()


def page_body(host: int, number: int) -> bytes:
    paragraphs = "".join(
        f"<p>Paragraph {i}. The defence ministers of Japan and the United States met in Tokyo on Monday and "
        f"agreed to deepen cooperation on missile defence, supply chains and joint exercises. 日米同盟。</p>"
        for i in range(20))
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>Host {host} story {number}</title></head>'
            f"<body><article><h1>Host {host} story {number}</h1>{paragraphs}</article></body></html>").encode()


# --- the server (child process) -------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.count: Counter = Counter()
        self.live: Counter = Counter()
        self.peak: Counter = Counter()
        self.last_start: dict[int, float] = {}
        self.min_gap: dict[int, float] = {}


async def serve_connection(reader, writer, host: int, service: float, stats: Stats) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            now = time.monotonic()
            if host in stats.last_start:
                stats.min_gap[host] = min(stats.min_gap.get(host, 1e9), now - stats.last_start[host])
            stats.last_start[host] = now
            stats.count[host] += 1
            stats.live[host] += 1
            stats.peak[host] = max(stats.peak[host], stats.live[host])
            try:
                if service:
                    await asyncio.sleep(service)
                if path == "/robots.txt":
                    status, ctype, body = 200, "text/plain", ROBOTS
                elif path.startswith("/feed/"):
                    status, ctype, body = 200, "application/rss+xml; charset=utf-8", feed_body(host, int(path[6:]))
                elif path.startswith("/page/"):
                    status, ctype, body = 200, "text/html; charset=utf-8", page_body(host, int(path[6:]))
                else:
                    status, ctype, body = 404, "text/plain", b"not found\n"
                writer.write(f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\nContent-Type: {ctype}"
                             f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
            finally:
                stats.live[host] -= 1
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(hosts: int, service: float) -> None:
    stats = Stats()
    servers = []
    for host in range(hosts):
        servers.append(await asyncio.start_server(
            lambda r, w, host=host: serve_connection(r, w, host, service, stats), "127.0.0.1", 0, backlog=256))
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    print("PORTS", " ".join(map(str, ports)), flush=True)
    done = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set_result, None)),
                     daemon=True).start()
    await done
    print("STATS", json.dumps({"count": [stats.count[h] for h in range(hosts)],
                               "peak": [stats.peak[h] for h in range(hosts)],
                               "min_gap": [stats.min_gap.get(h, 0.0) for h in range(hosts)]}), flush=True)


# --- the benchmark ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--feeds", type=int, default=10, help="feeds per host")
    parser.add_argument("--pages", type=int, default=100, help="article pages per host")
    parser.add_argument("--delay", type=float, default=0.25, help="per-host delay between request starts (s)")
    parser.add_argument("--service-ms", type=float, default=20.0, help="server time per response (ms)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.hosts, args.service_ms / 1000))
        return

    from alliance_digest.pipeline.fetcher import FetchPolicy, FetchRequest, fetch_all

    server = subprocess.Popen([sys.executable, __file__, "--serve", "--hosts", str(args.hosts),
                               "--service-ms", str(args.service_ms)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("PORTS"):
            sys.exit("the benchmark server did not start")
        ports = [int(p) for p in line.split()[1:]]
        requests = []
        for port in ports:
            base = f"http://127.0.0.1:{port}"
            requests += [FetchRequest(f"{base}/feed/{i}", kind="feed") for i in range(args.feeds)]
            requests += [FetchRequest(f"{base}/page/{i}", kind="page") for i in range(args.pages)]
        # Interleave hosts, as a real run's list of sources would be.
        requests.sort(key=lambda r: (int(r.url.rsplit("/", 1)[1]), r.url))
        policy = FetchPolicy(user_agent="AllianceDigest/0.1 (+https://digest.example.org/contact)",
                             per_host_concurrency=1, per_host_delay=args.delay, allow_private=True,
                             respect_robots=True)
        received = Counter()

        def on_result(result):
            received["ok" if result.ok else result.error_code] += 1
            received["bytes"] += len(result.content)

        started = time.perf_counter()
        results = fetch_all(requests, policy, on_result=on_result)
        wall = time.perf_counter() - started
        peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        server.stdin.close()
        stats = json.loads(next(line for line in server.stdout if line.startswith("STATS"))[6:])
    finally:
        server.kill()
        server.wait()
    per_host = args.feeds + args.pages + 1  # + robots.txt, fetched once per host for the pages
    ideal = per_host * max(args.delay, args.service_ms / 1000)
    failed = {k: v for k, v in received.items() if k not in ("ok", "bytes")}
    print(f"fetched:          {len(results):,} URLs ({args.hosts} hosts x {args.feeds} feeds + {args.pages} pages), "
          f"{received['ok']:,} ok, {received['bytes'] / 2**20:.0f} MiB" + (f", failures {failed}" if failed else ""))
    print(f"wall time:        {wall:6.2f} s")
    print(f"ideal:            {ideal:6.2f} s  ({per_host} requests per host x max(delay {args.delay} s, "
          f"service {args.service_ms:g} ms))")
    print(f"ratio:            {wall / ideal:.3f}  (target < 1.3)")
    print(f"server saw:       at most {max(stats['peak'])} request(s) at once per host; smallest gap between "
          f"starts to one host {min(stats['min_gap']):.3f} s (delay {args.delay} s); "
          f"{min(stats['count'])}-{max(stats['count'])} requests per host")
    print(f"peak memory:      {peak_rss / 2**20:.0f} MiB (fetcher process, all {len(results):,} results held)")
    # Gaps are timed where the server reads each request: on a busy machine its own loop can
    # stamp one request late and the next on time, so allow 50 ms of that noise.
    polite = max(stats["peak"]) <= 1 and min(stats["min_gap"]) >= args.delay - 0.05
    sys.exit(0 if wall / ideal < 1.3 and not failed and polite else 1)


if __name__ == "__main__":
    main()
