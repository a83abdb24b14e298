"""Measurements for bench/products.sh (Python 3 standard library only; the load itself is `product-simulator bench products`).

Starts the CSC emulator and both `ssm node --manage-db` processes (with HTTPS, pointed at the emulator, the Smart
Transport rate limit as given), deploys the two-node cluster with synchronous replication and a witness, activates an
account, sets the Host Common Name to the VIP and synchronizes once so that CSC signs the server certificate, makes a
registration token without a use limit, then runs `product-simulator bench products` against the VIP and the active node's own
PostgreSQL while it watches that the cluster stays active + synchronous. Passwords come from SSM_ADMIN_PASSWORD and
CSC_OPERATOR_PASSWORD (the nodes and the emulator read them too). Report on stdout, progress on stderr.
"""
import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import threading
import time

from benchlib import BenchError, Process, Session, cpu_seconds, finish, pinned_context, progress, stop_process, tool, wait_until
from failover import Cluster, log_findings


class Watch(threading.Thread):
    """The cluster's state every second during the load: a takeover or a fall back to asynchronous replication would
    make the numbers something other than what they claim to be."""

    def __init__(self, cluster):
        super().__init__(daemon=True)
        self.cluster, self.stopping = cluster, threading.Event()
        self.samples, self.changes, self.last = 0, [], None

    def run(self):
        while not self.stopping.wait(1.0):
            state = []
            for name, node in self.cluster.nodes.items():
                s = node.status(timeout=3)
                state.append(f"{name}:{s['self']['role']}/{s['replication']['mode']}" if s else f"{name}:no answer")
            state = " ".join(state)
            self.samples += 1
            if state != self.last:
                self.changes.append(f"{time.strftime('%H:%M:%S')} {state}")
                self.last = state


class Tracer:
    """With BENCH_TRACE=FILE.nettrace: a thread-time sample trace (dotnet-trace) of the active node (the standby with
    BENCH_TRACE_NODE=standby) during the first
    BENCH_TRACE_SECONDS (default 15) of each phase named in BENCH_TRACE_PHASES (default "Registrations"), one file per
    phase. Forwards the load driver's progress lines and starts the trace when a phase begins."""

    def __init__(self, pid, work):
        self.pid, self.work = pid, work
        self.target = os.environ.get("BENCH_TRACE")
        self.seconds = int(os.environ.get("BENCH_TRACE_SECONDS", "15"))
        self.phases = os.environ.get("BENCH_TRACE_PHASES", "Registrations").split(",")
        self.running = []

    def forward(self, stream):
        for line in stream:
            print(line, end="", file=sys.stderr, flush=True)
            phase = next((p for p in self.phases if line.startswith(f"==> {p}")), None)
            if self.target and phase:
                out = self.target.replace(".nettrace", f"-{phase.lower().replace(' ', '-')}.nettrace")
                tool = os.path.expanduser("~/.dotnet/tools/dotnet-trace")
                progress(f"Tracing the active node (pid {self.pid}) for {self.seconds} s into {out}")
                self.running.append(subprocess.Popen([tool, "collect", "-p", str(self.pid), "--profile", "dotnet-sampled-thread-time",
                                                      "--duration", f"00:00:00:{self.seconds:02d}", "-o", out],
                                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self):
        for process in self.running:
            try:
                process.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


SETTLED_CPU = 0.10


def wait_settled(pids, timeout=180):
    """Until every node uses less than SETTLED_CPU of a core over 2 s. A node just started keeps its tiered JIT busy for
    about a minute (measured: a standby's '.NET Tiered Com' thread at 0.3 cores for 60 s), which the first phases would
    otherwise pay for and attribute to the load. Returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = [cpu_seconds(p) for p in pids]
        time.sleep(2)
        if all((cpu_seconds(p) - b) / 2 < SETTLED_CPU for p, b in zip(pids, before)):
            break
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser()
    for name in ("--app", "--key", "--work", "--primary", "--secondary", "--vip", "--witness", "--csc"):
        parser.add_argument(name, required=True)
    for name in ("--http-port", "--https-port", "--peer-port", "--pg-port", "--csc-port", "--count", "--concurrency", "--report-requests",
                 "--reports-per-request", "--instances", "--rate-limit", "--heartbeat-ms", "--failover-timeout-ms"):
        parser.add_argument(name, type=int, required=True)
    # failover.py's Cluster runs on loopback here: no namespaces (its BENCH_NETNS mode is the failover benchmark's).
    parser.add_argument("--netns", default="")
    parser.add_argument("--subnet", default="")
    args = parser.parse_args()
    admin_password = os.environ.get("SSM_ADMIN_PASSWORD", "")
    operator_password = os.environ.get("CSC_OPERATOR_PASSWORD", "")
    if len(admin_password) < 12 or not operator_password:
        raise SystemExit("SSM_ADMIN_PASSWORD (12+ characters) and CSC_OPERATOR_PASSWORD must be set")
    for address in (args.primary, args.secondary, args.vip, args.csc):
        if not address.startswith("127."):
            raise SystemExit(f"only 127.x addresses: {address}")

    csc_dir = os.path.join(args.work, "csc")
    root_pem = os.path.join(csc_dir, "csc-root.pem")
    csc_url = f"https://{args.csc}:{args.csc_port}"
    # The limiter keys on the source address, and all the benchmark's products connect from one.
    os.environ["SmartTransport__RequestsPerSecond"] = str(args.rate_limit)
    cluster = Cluster(args)
    for node in cluster.nodes.values():
        node.command += ["--csc", csc_url, "--csc-root", root_pem]
    emulator = bench = None
    watch = Watch(cluster)
    report, error = [], None
    try:
        progress(f"Starting the CSC emulator on {csc_url}")
        emulator = Process("the CSC emulator",
                           [tool(args.app, "csc-emulator"), "--listen", csc_url, "--data", csc_dir, "--approval", "auto"],
                           os.path.join(args.work, "csc.log"), os.path.join(args.work, "pids", "csc.pid"), new_session=True)
        wait_until("the emulator's root file", lambda: os.path.exists(root_pem) and os.path.getsize(root_pem) > 0, 60, emulator.check)
        csc = Session(args.csc, args.csc_port, ssl.create_default_context(cafile=root_pem))
        wait_until("GET /csc/v1/root", lambda: csc.send("GET", "/csc/v1/root")[0] == 200, 60, emulator.check)

        progress(f"Starting primary ({args.primary}) and secondary ({args.secondary}): http {args.http_port}, https {args.https_port}, "
                 f"PostgreSQL {args.pg_port}, Smart Transport limit {args.rate_limit}/s per source (0 = off)")
        for node in cluster.nodes.values():
            node.start()
        for node in cluster.nodes.values():
            node.wait_live()
        progress(f"Deploying the cluster (VIP {args.vip}, synchronous replication, witness)")
        result, ms = cluster.cli("ha_deploy", "primary", "--peer", cluster.nodes["secondary"].peer_url, "--vip", args.vip)
        if result.returncode != 0:
            raise BenchError(f"ha_deploy failed ({result.returncode}): {(result.stdout + result.stderr).strip()}")
        active, _ = cluster.wait_steady()
        progress(f"{result.stdout.strip()} ({ms:.0f} ms); active: {active}")

        # The API is HTTPS only: the nodes' self-signed certificates until CSC signs the VIP's, then CSC's root.
        api = Session(args.vip, args.https_port, pinned_context([args.primary, args.secondary], args.https_port, cafile=root_pem))
        login = json.dumps({"userName": "admin", "password": admin_password}).encode()
        wait_until("login through the VIP", lambda: api.send("POST", "/api/session", login)[0] == 200, 60, cluster.check_alive)
        account = api.json("POST", "/api/accounts", {"name": "BENCH", "description": "products benchmark", "contactEmail": "ops@example.com"},
                           expect=(201,))
        activated = api.json("POST", f"/api/accounts/{account['id']}/activation", {"user": "csc-operator", "password": operator_password})
        if activated.get("status") != "Active":
            raise BenchError(f"activation did not make the account Active: {activated}")
        progress(f"Host Common Name {args.vip}; synchronizing so that CSC signs the server certificate")
        api.json("PUT", "/api/certificates/host-common-name", {"name": args.vip})
        api.json("POST", "/api/sync", {"accountId": account["id"]}, expect=(202,))

        def signed():
            status, data = api.send("GET", "/api/certificates")
            body = json.loads(data) if status == 200 else {}
            return body.get("stale") is False and body.get("signedFor") == args.vip

        wait_until("a server certificate signed by CSC for the VIP", signed, 120, cluster.check_alive)

        def presented():
            # The HTTPS port presents it (checked as products check it: chain to the CSC root, name = VIP).
            conn = http.client.HTTPSConnection(args.vip, args.https_port, timeout=5, context=ssl.create_default_context(cafile=root_pem))
            try:
                conn.request("GET", "/health/live")
                return conn.getresponse().status == 200
            finally:
                conn.close()

        wait_until("the VIP's HTTPS port presenting the signed certificate", presented, 60, cluster.check_alive)
        token = api.json("POST", f"/api/accounts/{account['id']}/registration-tokens",
                         {"description": "products benchmark", "expiresInDays": 30, "maxUses": None})
        secret = token["secret"]

        active = cluster.find_active()
        standby = cluster.other(active)
        a, s = cluster.nodes[active], cluster.nodes[standby]
        command = [tool(args.app, "product-simulator"), "bench", "products", "--server", f"https://{args.vip}:{args.https_port}/",
                   "--direct", f"https://{a.address}:{args.https_port}/", "--csc-root", root_pem, "--token", secret,
                   "--db", f"Host={os.path.join(a.data, 'pg-run')};Port={args.pg_port};Username=postgres;Database=ssm;Timeout=15",
                   "--api", f"https://{args.vip}:{args.https_port}/", "--count", str(args.count), "--concurrency", str(args.concurrency),
                   "--report-requests", str(args.report_requests), "--reports-per-request", str(args.reports_per_request),
                   "--instances", str(args.instances), "--node-pid", str(a.process.pid),
                   "--watch", f"active node={a.process.pid}", f"active postgres={a.postmaster_pid()}",
                   f"standby node={s.process.pid}", f"standby postgres={s.postmaster_pid()}"]
        # The loopback VIP is a kernel redirect where nftables can be used (root), else the node's own relay (decision 0021).
        with open(a.log, errors="replace") as log:
            carried = "nftables redirect" if "the kernel redirects it to" in log.read() else "loopback relay"
        report.append(f"cluster: active {active} ({a.address}), standby {standby} ({s.address}), VIP {args.vip} http {args.http_port} "
                      f"https {args.https_port} ({carried}), synchronous replication, witness, heartbeat "
                      f"{args.heartbeat_ms} ms, failover timeout {args.failover_timeout_ms} ms (the active fences itself when its own "
                      f"database does not answer for {args.failover_timeout_ms - 2 * args.heartbeat_ms} ms); Smart Transport limit "
                      f"{args.rate_limit}/s per source (0 = off)")
        report.append(f"sizes: {args.count:,} registrations and raw inserts at concurrency {args.concurrency}, {args.report_requests:,} usage "
                      f"requests x {args.reports_per_request} reports, page over {args.instances:,} instances")
        report.append("")
        settled = wait_settled([a.process.pid, s.process.pid])
        report.append(f"both nodes settled (below {SETTLED_CPU:.0%} of a core for 2 s: start-up JIT done) {settled:.0f} s before the load")
        progress(f"Running product-simulator bench products against {active}")
        watch.start()
        bench = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with open(os.path.join(args.work, "pids", "bench.pid"), "w") as f:
            f.write(str(bench.pid))
        tracer = Tracer((s if os.environ.get("BENCH_TRACE_NODE") == "standby" else a).process.pid, args.work)
        forward = threading.Thread(target=tracer.forward, args=(bench.stderr,), daemon=True)
        forward.start()
        output = bench.stdout.read()
        bench.wait()
        forward.join(timeout=10)
        tracer.stop()
        report.extend(output.rstrip("\n").split("\n"))
        if bench.returncode != 0:
            error = f"product-simulator bench products exited with code {bench.returncode}"
    except BenchError as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        watch.stopping.set()
        if watch.is_alive():
            watch.join(timeout=10)
        if bench is not None:
            stop_process(bench, os.path.join(args.work, "pids", "bench.pid"))
        report.append(f"cluster during the load (checked every second, {watch.samples} samples): " + "; ".join(watch.changes or ["no samples"]))
        findings = log_findings(cluster)
        report.append(f"warnings/errors in the node and PostgreSQL logs: {len(findings)} distinct" + (":" if findings else ""))
        report.extend(findings[:30])
        for node in cluster.nodes.values():
            node.stop()
        if emulator is not None:
            emulator.stop()
    finish(report, error)


if __name__ == "__main__":
    main()
