"""Measurements for bench/foundation.sh (Python 3 standard library only).

Starts `ssm node` itself (so it knows the exact process start), measures, and always stops the node.
The admin password comes from the SSM_ADMIN_PASSWORD environment variable, which the node also reads.
"""
import argparse
import json
import math
import os
import statistics
import time

from benchlib import Process, Session, pinned_context, progress, run, wait_until

HOST = "127.0.0.1"


class Node:
    def __init__(self, args):
        self.args = args
        self.process = None

    def start(self, warm_up=True):
        """Starts the node; returns milliseconds from process start to /health/ready answering 200."""
        a = self.args
        started = time.monotonic()
        env = {**os.environ, "Node__WarmUp": "true" if warm_up else "false"}
        self.process = Process("the node", [a.app, "node", "--name", "bench", "--listen", f"http://{HOST}:{a.port}",
                                            "--https-port", str(a.https_port), "--db", a.db, "--data", a.data],
                               a.log, a.pid_file, env=env)
        probe = Session(HOST, a.port, timeout=5)
        wait_until("the node's /health/ready", lambda: probe.send("GET", "/health/ready")[0] == 200, 180,
                   self.process.check, interval=0.01)
        return (time.monotonic() - started) * 1000

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None

    def status_kib(self, field):
        return self.process.status_kib(field)


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def first_requests(context, port, password, tag):
    """A new TLS connection, the sign-in, two writes: (sign-in ms with the handshake, first write ms, second write ms)."""
    first = Session(HOST, port, context, timeout=60)
    t = time.perf_counter()
    status, data = first.send("POST", "/api/session", json.dumps({"userName": "admin", "password": password}).encode())
    times = [(time.perf_counter() - t) * 1000]
    if status != 200:
        raise SystemExit(f"login failed: {status} {data[:300]!r}")
    for i in range(2):
        body = json.dumps({"name": f"First {tag}-{i}", "description": "", "contactEmail": "ops@example.com"}).encode()
        t = time.perf_counter()
        status, data = first.send("POST", "/api/accounts", body)
        times.append((time.perf_counter() - t) * 1000)
        if status != 201:
            raise SystemExit(f"first write answered {status}: {data[:300]!r}")
    return times


def run_block(client, method, path, bodies, expect, latencies):
    """Sends one request per body (None for no body); appends each round trip in ms; returns wall seconds."""
    begin = time.perf_counter()
    for body in bodies:
        t = time.perf_counter()
        status, data = client.send(method, path, body)
        latencies.append((time.perf_counter() - t) * 1000)
        if status != expect:
            raise SystemExit(f"{method} {path} answered {status}, expected {expect}: {data[:500]!r}")
    return time.perf_counter() - begin


def describe(label, latencies, seconds):
    s = sorted(latencies)
    return (f"{label}: p50 {percentile(s, 50):.2f}  p90 {percentile(s, 90):.2f}  p99 {percentile(s, 99):.2f}  "
            f"max {s[-1]:.2f}  ({len(s)} requests, {len(s) / seconds:.0f} req/s)")


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def main():
    parser = argparse.ArgumentParser()
    for name in ("--app", "--db", "--data", "--log", "--pid-file"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--idle-seconds", type=float, default=5)
    parser.add_argument("--block", type=int, default=1000)
    parser.add_argument("--first-rounds", type=int, default=int(os.environ.get("BENCH_FIRST_ROUNDS", "3")))
    args = parser.parse_args()
    password = os.environ.get("SSM_ADMIN_PASSWORD", "")
    if len(password) < 12:
        raise SystemExit("SSM_ADMIN_PASSWORD must be set (at least 12 characters)")

    node = Node(args)
    report = []
    try:
        # 0. The first start on the empty database creates the schema and the first admin: reported apart.
        progress("First start on the empty database (schema + first admin)")
        first_ms = node.start()
        node.stop()

        # 1. Start-to-ready, restarting the node each time; the last one stays up for the rest.
        ready_ms = []
        for i in range(args.starts):
            if i:
                node.stop()
            progress(f"Timed start {i + 1}/{args.starts}")
            ready_ms.append(node.start())
        report.append(f"start-to-ready ms: min {min(ready_ms):.0f} median {statistics.median(ready_ms):.0f} "
                      f"max {max(ready_ms):.0f}  (runs: {', '.join(f'{m:.0f}' for m in ready_ms)}; "
                      f"first start on empty db: {first_ms:.0f})")

        # 2a. Memory idle after ready.
        progress(f"Idle for {args.idle_seconds:g} s, then reading VmRSS")
        time.sleep(args.idle_seconds)
        rss_idle = node.status_kib("VmRSS")

        context = pinned_context([HOST], args.https_port)
        # 3. Baseline and create-account latency, interleaved in blocks so that both see the same machine noise.
        # Both over HTTPS, where the dashboard's API is served: the baseline pays the same TLS as the writes.
        live = Session(HOST, args.https_port, context, timeout=60)
        admin = Session(HOST, args.https_port, context, timeout=60)
        status, data = admin.send("POST", "/api/session",
                                  json.dumps({"userName": "admin", "password": password}).encode())
        if status != 200 or "ssm.auth" not in admin.cookies:
            raise SystemExit(f"login failed: {status} {data[:300]!r}")
        bodies = [json.dumps({"name": f"Bench {i:05d}", "description": f"Benchmark account {i}",
                              "contactEmail": "ops@example.com"}).encode() for i in range(1, args.count + 1)]
        live_ms, create_ms = [], []
        live_s = create_s = 0.0
        for begin in range(0, args.count, args.block):
            chunk = bodies[begin:begin + args.block]
            live_s += run_block(live, "GET", "/health/live", [None] * len(chunk), 200, live_ms)
            create_s += run_block(admin, "POST", "/api/accounts", chunk, 201, create_ms)
            progress(f"{begin + len(chunk)}/{args.count} accounts created")

        # 2b. Memory after the creates.
        rss_after = node.status_kib("VmRSS")
        hwm = node.status_kib("VmHWM")

        report.append(f"VmRSS idle after ready: {mib(rss_idle)}  (after {args.idle_seconds:g} s idle)")
        report.append(f"VmRSS after {args.count} accounts: {mib(rss_after)}  (peak VmHWM {mib(hwm)})")
        report.append(describe("GET /health/live ms (baseline)", live_ms, live_s))
        report.append(describe("POST /api/accounts ms         ", create_ms, create_s))
        ratio = percentile(sorted(create_ms), 50) / percentile(sorted(live_ms), 50)
        report.append(f"create p50 / baseline p50: {ratio:.1f}x")
        warm = percentile(sorted(create_ms), 50)

        # 4. The first requests a node serves after it started and sat idle, as a standby does before it takes over: a
        # new TLS connection, the sign-in, then the first writes; with the node's warm-up off and on, alternating.
        firsts = {False: [], True: []}
        for round_ in range(args.first_rounds):
            for warm_up in (False, True):
                node.stop()
                progress(f"First requests, warm-up {'on' if warm_up else 'off'} ({round_ + 1}/{args.first_rounds})")
                node.start(warm_up)
                # Pinned anew: a standalone node without a CSC-signed certificate presents a new self-signed one per start.
                fresh = pinned_context([HOST], args.https_port)
                time.sleep(args.idle_seconds)
                firsts[warm_up].append(first_requests(fresh, args.https_port, password, f"{round_}{int(warm_up)}"))
        for warm_up in (False, True):
            rows = firsts[warm_up]
            report.append(f"first requests, warm-up {'on ' if warm_up else 'off'}: TLS connect + sign-in ms "
                          f"{', '.join(f'{r[0]:.0f}' for r in rows)}; first write ms {', '.join(f'{r[1]:.0f}' for r in rows)}; "
                          f"second write ms {', '.join(f'{r[2]:.0f}' for r in rows)}  (warm create p50 {warm:.1f})")
        if live.connects + admin.connects > 2:
            report.append(f"note: connections opened: baseline {live.connects}, create {admin.connects} (keep-alive broke)")
    finally:
        node.stop()
    print("\n".join(report), flush=True)


if __name__ == "__main__":
    run(main)
