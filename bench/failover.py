"""Measurements for bench/failover.sh (Python 3 standard library only).

Starts both `ssm node --manage-db` processes itself (so it knows the exact start and can kill -9 them),
deploys the cluster, runs a client that writes through the VIP the whole time and a sampler that asks
both nodes' own PostgreSQL `select pg_is_in_recovery()` every ~50 ms, then runs CYCLES planned handovers
and CYCLES crash failovers. It always stops the nodes it started; failover.sh stops the PostgreSQL
servers and removes the temp folder. The admin password comes from SSM_ADMIN_PASSWORD, which the nodes
also read. Progress goes to stderr, the report to stdout.

With --netns PREFIX (failover.sh BENCH_NETNS=1) this driver runs in the client's namespace PREFIX-c; each node runs in
its own (PREFIX-p, PREFIX-s) with the `ip` VIP provider on eth0, and a link cut sets its port v<p|s> on the bridge of
PREFIX-sw down. The sampler still reads both servers over their Unix sockets (files, not bound to a namespace).
"""
import argparse
import datetime
import http.client
import http.cookies
import ssl
import json
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import threading
import time

from benchlib import (REQUESTED_WITH, BenchError, Session, cookie_header, keep_cookies, finish, pinned_context, processes, progress,
                      reap_orphaned_servers, stop_process)

# The console API answers only mutual TLS with a console certificate of the cluster CA (decision 0016).
def console_tls(keys):
    context = ssl.create_default_context(cafile=os.path.join(keys, "ca.crt"))
    context.load_cert_chain(os.path.join(keys, "bench-console.crt"), os.path.join(keys, "bench-console.key"))
    return context
SETTLE_S = 1.0           # steady writing before each event
STEADY_TIMEOUT_S = 90    # a cluster not back to "active + sync + heartbeat" by then is a failure
RTO_TIMEOUT_S = 60
SAMPLE_INTERVAL_S = 0.05
WRITE_TIMEOUT_S = 0.5

# Median of the client-seen gap in acknowledged writes: issue 12's targets where it names the kind (planned 0.3 s, crash
# 1.0 s, silent failure 2.0 s); the others are this benchmark's own bounds.
TARGETS = {"planned": 300, "crash": 1000, "pgkill": 4000, "freeze": 2000, "pgfreeze": 2000, "witness": 6000, "both": 15000,
           "linkcut": 2000}
TITLES = {"planned": "planned handover", "crash": "kill -9 node+pg", "pgkill": "kill -9 pg alone", "freeze": "SIGSTOP node",
          "pgfreeze": "SIGSTOP pg", "witness": "witness down+crash", "both": "both restarted", "linkcut": "link cut"}
FREEZE_S = 8.0           # how long a SIGSTOP lasts
LINKCUT_S = 5.0          # how long the active's switch port stays down (netns only)
WITNESS_DOWN_S = 3.0     # the witness is stopped this long; the active is killed half a second in
REJOIN_TARGET_MS = 2000       # median, issue 12: "rejoin to sync <= 2 s"
REJOIN_LIMIT_MS = 3000        # every one


def now():
    return time.monotonic()


# ---------------------------------------------------------------- PostgreSQL: pg_is_in_recovery over the Unix socket

def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _read_message(sock):
    header = _recv_exact(sock, 5)
    length = struct.unpack("!i", header[1:])[0]
    return header[:1], _recv_exact(sock, length - 4)


# Third column: the server could acknowledge a commit now: writable, and not waiting for a sync standby that is not
# connected (an old active whose standby was promoted is writable but acknowledges nothing).
SAMPLE_SQL = (b"select pg_is_in_recovery(), (select string_agg(wait_event_type || ':' || wait_event, ',') "
              b"from pg_stat_activity where backend_type = 'client backend' and state = 'active' "
              b"and wait_event is not null and pid <> pg_backend_pid()), "
              b"not pg_is_in_recovery() and (current_setting('synchronous_standby_names') = '' "
              b"or exists (select 1 from pg_stat_replication where sync_state = 'sync'))")


def pg_sample(socket_path, timeout=0.3):
    """(in_recovery, waits): in_recovery is True (standby), False (writable primary) or None (no answer); waits
    lists the wait events of client backends busy on that server right now (e.g. IPC:SyncRep, Lock:...).
    A fresh connection each time, so only a live postmaster can answer (an orphaned backend of a killed one
    cannot). Protocol 3.0, trust authentication only."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(socket_path)
        params = b"user\0postgres\0database\0postgres\0application_name\0ssm-failover-bench\0\0"
        sock.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
        while True:
            kind, body = _read_message(sock)
            if kind == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise BenchError(f"{socket_path} asks for a password: the sampler needs trust on the local socket")
            if kind == b"E":
                return None, [], False      # starting up, shutting down, not yet accepting connections...
            if kind == b"Z":
                break
        query = SAMPLE_SQL + b"\0"
        sock.sendall(b"Q" + struct.pack("!i", 4 + len(query)) + query)
        values = [None, None, None]
        while True:
            kind, body = _read_message(sock)
            if kind == b"D":
                columns, offset = struct.unpack("!h", body[:2])[0], 2
                values = []
                for _ in range(columns):
                    length = struct.unpack("!i", body[offset:offset + 4])[0]
                    offset += 4
                    values.append(body[offset:offset + length] if length >= 0 else None)
                    offset += max(length, 0)
            elif kind == b"E":
                values = [None, None, None]
            elif kind == b"Z":
                break
        try:
            sock.sendall(b"X\0\0\0\4")
        except OSError:
            pass
        waits = values[1].decode().split(",") if values[1] else []
        return {b"t": True, b"f": False}.get(values[0]), waits, values[2] == b"t"
    except (OSError, ConnectionError, struct.error):
        return None, [], False
    finally:
        sock.close()


# ---------------------------------------------------------------- processes

def descendants(pid):
    children = {}
    for p in processes():
        children.setdefault(p.ppid, []).append(p.pid)
    result, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            result.append(child)
            todo.append(child)
    return result


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Node:
    def __init__(self, args, name, address, host):
        self.args = args
        self.name = name
        self.address = address
        # With --netns: the node's namespace and its port on the bridge (see failover.sh, bench_netns_create).
        self.netns = f"{args.netns}-{host}" if args.netns else None
        self.port_name = f"v{host}"
        self.url = f"http://{address}:{args.http_port}"
        self.peer_url = f"https://{address}:{args.peer_port}"
        self.tls = console_tls(args.key)
        self.data = os.path.join(args.work, name)
        self.log = os.path.join(args.work, f"{name}.log")
        self.pid_file = os.path.join(args.work, "pids", f"{name}.pid")
        self.pg_data = os.path.join(self.data, "pg")
        self.pg_log = os.path.join(self.data, "pg-run", "postgresql.log")
        self.socket = os.path.join(self.data, "pg-run", f".s.PGSQL.{args.pg_port}")
        self.process = None
        a = args
        self.command = [a.app, "node", "--name", name, "--listen", self.url, "--data", self.data, "--manage-db",
                        "--pg-port", str(a.pg_port), "--cluster-keys", a.key, "--peer-port", str(a.peer_port), "--witness", a.witness,
                        "--heartbeat-ms", str(a.heartbeat_ms), "--failover-timeout-ms", str(a.failover_timeout_ms),
                        "--https-port", str(a.https_port)]
        if self.netns:
            # `ip netns exec` execs the program: the pid is still the node's.
            self.command = ["ip", "netns", "exec", self.netns, *self.command, "--vip-provider", "ip", "--vip-interface", "eth0"]

    def start(self):
        log = open(self.log, "ab")
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        with open(self.pid_file, "w") as f:
            f.write(str(self.process.pid))

    def wait_live(self, timeout=180):
        deadline = now() + timeout
        while now() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                conn = http.client.HTTPConnection(self.address, self.args.http_port, timeout=2)
                conn.request("GET", "/health/live")
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError(f"{self.name} not live after {timeout} s:\n{self.log_tail()}")

    def crash(self):
        """kill -9 of the node process (and anything it is running), then of its PostgreSQL postmaster."""
        pid = self.process.pid
        for victim in [pid] + descendants(pid):
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None
        open(self.pid_file, "w").close()
        postmaster = self.postmaster_pid()
        if postmaster is not None:
            try:
                os.kill(postmaster, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return postmaster

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return None
        # Only ours: its command line names this node's data folder.
        return pid if self.pg_data in cmdline(pid) else None

    def stop(self):
        if self.process is None:
            return
        stop_process(self.process, self.pid_file)
        self.process = None

    def log_tail(self, lines=30):
        """The last lines of the node's log, without stack frames."""
        try:
            with open(self.log, errors="replace") as f:
                return "".join([l for l in f.readlines() if not l.startswith("   at ")][-lines:])
        except OSError:
            return ""

    def status(self, timeout=1.0):
        """GET /admin/ha/status with the cluster key: the same answer as `ssm ha_status --json`, without starting
        a .NET process for each poll. None if the node does not answer."""
        try:
            conn = http.client.HTTPSConnection(self.address, self.args.peer_port, timeout=timeout, context=self.tls)
            conn.request("GET", "/admin/ha/status", headers={"Accept": "application/json"})
            response = conn.getresponse()
            body = response.read()
            conn.close()
            return json.loads(body) if response.status == 200 else None
        except (OSError, http.client.HTTPException, ValueError):
            return None


    def admin_post(self, path, timeout=300):
        """POST an admin verb with the cluster key, as `ssm ha_cluster_stop` does, without the CLI's own
        start-up (a .NET process, 0.4-0.9 s here): the RTO then starts when the node is asked."""
        conn = http.client.HTTPSConnection(self.address, self.args.peer_port, timeout=timeout, context=self.tls)
        conn.request("POST", path, headers={"Accept": "application/json"})
        response = conn.getresponse()
        body = response.read().decode(errors="replace")
        conn.close()
        return response.status, body


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def read_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


PG_TS = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})"


def pg_log_promote_ms(text):
    """Server side of a promotion in a PostgreSQL log: 'received promote request' to 'ready to accept connections'."""
    received = re.search(PG_TS + r" \S+ \[\d+\] LOG:  received promote request", text)
    if not received:
        return None
    ready = re.search(PG_TS + r" \S+ \[\d+\] LOG:  database system is ready to accept connections", text[received.end():])
    if not ready:
        return None
    parse = lambda s: datetime.datetime.strptime(s, "%Y-%m-%d %H:%M:%S.%f")
    return (parse(ready.group(1)) - parse(received.group(1))).total_seconds() * 1000


# ---------------------------------------------------------------- the client writing through the VIP

class Phase:
    def __init__(self):
        self.value = "setup"


class Writer(threading.Thread):
    def __init__(self, host, port, password, phase):
        super().__init__(daemon=True)
        self.host, self.port, self.password, self.phase = host, port, password, phase
        self.context = None   # pinned once the nodes are up
        self.lock = threading.Lock()
        self.acks = []        # (name, t_send, t_ack, phase)
        self.failures = []    # (t, kind, phase)
        self.unanswered = []  # (name, phase): writes sent whose answer was an error or nothing
        self.logins = 0
        self.stopping = threading.Event()
        self.counter = 0
        self.cookies = {}

    def snapshot(self):
        with self.lock:
            return list(self.acks), list(self.failures)

    def _fail(self, kind):
        with self.lock:
            self.failures.append((now(), kind, self.phase.value))

    def _send(self, conn, method, path, body):
        # A connection of its own (not a Session): each failure is classified and timed where it happens.
        headers = cookie_header(self.cookies, {"Accept": "application/json", "Content-Type": "application/json", **REQUESTED_WITH})
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        keep_cookies(response, self.cookies)
        return response.status, data

    @staticmethod
    def _kind(error):
        if isinstance(error, ConnectionRefusedError):
            return "refused"
        if isinstance(error, (socket.timeout, TimeoutError)):
            return "timeout"
        if isinstance(error, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
            return "reset"
        return type(error).__name__

    def run(self):
        conn = None
        signed_in = False
        while not self.stopping.is_set():
            if conn is None:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=WRITE_TIMEOUT_S, context=self.context)
            try:
                if not signed_in:
                    status, data = self._send(conn, "POST", "/api/session",
                                              json.dumps({"userName": "admin", "password": self.password}).encode())
                    if status == 200 and "ssm.auth" in self.cookies:
                        signed_in = True
                        self.logins += 1
                        continue
                    self._fail(f"login {status}")
                    conn.close()
                    conn = None
                    time.sleep(0.05)
                    continue
                self.counter += 1
                name = f"W{self.counter:06d}"
                body = json.dumps({"name": name, "description": "", "contactEmail": "ops@example.com"}).encode()
                sent = now()
                status, data = self._send(conn, "POST", "/api/accounts", body)
                if status == 201:
                    with self.lock:
                        self.acks.append((name, sent, now(), self.phase.value))
                    continue
                kind = f"http {status}"
                title = re.search(rb"<title>(.*?)</title>", data)
                if title:   # the role page of a node that does not take writes names the node and its role
                    kind += f" ({title.group(1).decode(errors='replace')})"
                self._fail(kind)
                with self.lock:
                    self.unanswered.append((name, self.phase.value))
                if status == 401:
                    signed_in = False
                    self.cookies.clear()
            except (OSError, http.client.HTTPException) as error:
                self._fail(self._kind(error))
                if signed_in:
                    with self.lock:
                        self.unanswered.append((f"W{self.counter:06d}", self.phase.value))
            # A fresh connection after any error; a short pause so that a refused connect does not spin.
            conn.close()
            conn = None
            time.sleep(0.005)
        if conn is not None:
            conn.close()


# ---------------------------------------------------------------- the "never two writers" sampler

class Sampler(threading.Thread):
    def __init__(self, nodes, phase):
        super().__init__(daemon=True)
        self.nodes, self.phase = nodes, phase
        self.stopping = threading.Event()
        self.counts = {}      # phase -> [samples, both answered, two writers]
        self.two_writers = []  # (t, phase)
        self.waits = {}       # phase -> {wait event of a client backend on a writable server: samples}
        self.error = None
        self.failures = 0
        self.last_failure = None
        self.completed = False
        self.unconfirmed = 0  # both read as able to acknowledge, but not both at once (see run)

    def run(self):
        try:
            while not self.stopping.is_set():
                started = now()
                try:
                    results = [pg_sample(n.socket) for n in self.nodes]
                except BenchError:
                    raise
                except Exception as error:  # a sampler bug must not silently end the check
                    self.failures += 1
                    self.last_failure = repr(error)
                    results = [(None, [], False)] * len(self.nodes)
                answers = [r[0] for r in results]
                phase = self.phase.value
                waits = self.waits.setdefault(phase, {})
                for in_recovery, events, _ in results:
                    if in_recovery is False:
                        for event in events:
                            waits[event] = waits.get(event, 0) + 1
                c = self.counts.setdefault(phase, [0, 0, 0, 0])
                c[0] += 1
                if all(a is not None for a in answers):
                    c[1] += 1
                if all(a is False for a in answers):
                    c[2] += 1
                    self.two_writers.append((started, phase))
                    progress(f"TWO WRITABLE: both PostgreSQL servers answered pg_is_in_recovery() = false ({phase})")
                if all(r[2] for r in results):
                    # The servers are read one after the other: a promotion between the two reads makes the first
                    # server's older answer look simultaneous with the second's. The first is read again: only if it
                    # still could acknowledge after the second answered could both at that moment.
                    try:
                        again = pg_sample(self.nodes[0].socket)[2]
                    except Exception:  # no answer: not confirmed either way; counted as confirmed to stay on the safe side
                        again = True
                    if again:
                        c[3] += 1
                        progress(f"TWO ACKNOWLEDGING: both PostgreSQL servers could acknowledge a commit ({phase})")
                    else:
                        self.unconfirmed += 1
                        progress(f"both servers read as able to acknowledge, but the first no longer could when read again ({phase})")
                time.sleep(max(0.0, SAMPLE_INTERVAL_S - (now() - started)))
            self.completed = True
        except BenchError as error:
            self.error = str(error)
            progress(f"sampler stopped: {error}")


class VipWatch(threading.Thread):
    """Hosts of their own only: which nodes' eth0 carry the VIP, read every 250 ms with `ip -n NS addr`. Two holders
    answer ARP for the same address, and a client keeps whichever MAC it heard last: with the `ip` provider the
    address outlives a node killed with -9, until someone removes it."""

    def __init__(self, nodes, vip, phase):
        super().__init__(daemon=True)
        self.nodes, self.vip, self.phase = nodes, vip, phase
        self.stopping = threading.Event()
        self.counts = {}      # phase -> [samples, two holders, no holder]
        self.error = None

    def holds(self, node):
        result = subprocess.run(["ip", "-n", node.netns, "-o", "-4", "addr", "show", "dev", "eth0"], stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=5)
        return f" {self.vip}/" in result.stdout

    def run(self):
        reported = None
        try:
            while not self.stopping.wait(0.25):
                holders = [node.name for node in self.nodes if self.holds(node)]
                phase = self.phase.value
                c = self.counts.setdefault(phase, [0, 0, 0])
                c[0] += 1
                if len(holders) > 1:
                    c[1] += 1
                    if reported != phase:
                        reported = phase
                        progress(f"VIP {self.vip} on both hosts' eth0 ({phase})")
                elif not holders:
                    c[2] += 1
        except (OSError, subprocess.SubprocessError) as error:
            self.error = repr(error)


# ---------------------------------------------------------------- the cluster

class Cluster:
    def __init__(self, args):
        self.args = args
        self.nodes = {"primary": Node(args, "primary", args.primary, "p"), "secondary": Node(args, "secondary", args.secondary, "s")}

    def link(self, node, state):
        """Sets NODE's port on the bridge up or down: a cable pulled at the switch, the node's own eth0 untouched."""
        subprocess.run(["ip", "netns", "exec", f"{self.args.netns}-sw", "ip", "link", "set", node.port_name, state],
                       check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=10)

    def check_alive(self):
        for node in self.nodes.values():
            if node.process is not None and node.process.poll() is not None:
                code = node.process.returncode
                node.process = None
                raise BenchError(f"{node.name} (ssm node) exited with code {code}:\n{node.log_tail()}")

    def other(self, name):
        return "secondary" if name == "primary" else "primary"

    def cli(self, verb, node, *extra, timeout=300):
        command = [self.args.app, verb, "--node", self.nodes[node].peer_url, "--keys", self.args.key, *extra]
        started = now()
        result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        return result, (now() - started) * 1000

    def find_active(self):
        """The active node per `ssm ha_status --json`: self.role == Active, else the peer if it is."""
        for name in ("primary", "secondary"):
            result, _ = self.cli("ha_status", name, "--json", timeout=60)
            if result.returncode != 0:
                continue
            try:
                status = json.loads(result.stdout)
            except ValueError:
                continue
            if status.get("self", {}).get("role") == "Active":
                return name
            if (status.get("peer") or {}).get("role") == "Active":
                return self.other(name)
        raise BenchError("ha_status --json shows no active node on either node")

    @staticmethod
    def steady(status):
        return (status is not None and status["self"]["role"] == "Active" and status["replication"]["mode"] == "Sync"
                and status["heartbeat"]["connected"] and (status.get("peer") or {}).get("role") == "Standby")

    def wait_steady(self, timeout=STEADY_TIMEOUT_S, on=None):
        """Waits until one node (or `on`) is active, synchronous, with a connected standby; returns (name, time)."""
        deadline = now() + timeout
        last = {}
        while now() < deadline:
            self.check_alive()
            for name in ([on] if on else ["primary", "secondary"]):
                status = self.nodes[name].status()
                last[name] = status
                if self.steady(status):
                    return name, now()
            time.sleep(0.05)
        summary = {n: (s and {k: s.get(k) for k in ("self", "peer", "replication", "heartbeat", "epoch")}) for n, s in last.items()}
        raise BenchError(f"the cluster did not become active+sync+heartbeat within {timeout} s; last status: "
                         f"{json.dumps(summary)}\n--- primary log ---\n{self.nodes['primary'].log_tail()}"
                         f"\n--- secondary log ---\n{self.nodes['secondary'].log_tail()}")


# ---------------------------------------------------------------- analysis helpers

def first_failure_after(failures, t):
    return next((f for f in failures if f[0] >= t), None)


def first_ack_sent_after(acks, t):
    return next((a for a in acks if a[1] >= t), None)


def last_ack_before(acks, t):
    result = None
    for a in acks:
        if a[2] < t:
            result = a
        else:
            break
    return result


def wait_recovery(writer, t0, after_failure, timeout=RTO_TIMEOUT_S):
    """The first write acknowledged through the VIP after the event at t0. For a planned handover the old active
    keeps answering until it lets go of the VIP, so only acks sent after the first failed attempt count."""
    deadline = now() + timeout
    while now() < deadline:
        acks, failures = writer.snapshot()
        start = t0
        failure = None
        if after_failure:
            failure = first_failure_after(failures, t0)
            if failure is None:
                time.sleep(0.01)
                continue
            start = failure[0]
        ack = first_ack_sent_after(acks, start)
        if ack is not None:
            outage_start = failure[0] if failure else t0
            before = last_ack_before(acks, outage_start)
            failed = [f[1] for f in failures if (before[2] if before else t0) <= f[0] <= ack[1]]
            kinds = {}
            for k in failed:
                kinds[k] = kinds.get(k, 0) + 1
            gap = (ack[2] - before[2]) * 1000 if before else None
            return (ack[2] - t0) * 1000, gap, kinds
        time.sleep(0.01)
    raise BenchError(f"no write acknowledged through the VIP within {timeout} s of the event")


def wait_rejoin(cluster, active, started, command=None, timeout=STEADY_TIMEOUT_S):
    """Until `active` reports mode Sync, heartbeat connected and a standby peer (and the command, if any, ended)."""
    deadline = started + timeout
    reached = None
    ended = None if command is not None else started
    while now() < deadline:
        cluster.check_alive()
        if ended is None and command.poll() is not None:
            ended = now()
        if reached is None and Cluster.steady(cluster.nodes[active].status()):
            reached = now()
        if reached is not None and ended is not None:
            return (max(reached, ended) - started) * 1000
        time.sleep(0.05)
    raise BenchError(f"{cluster.other(active)} did not rejoin within {timeout} s (command ended: {ended is not None}); "
                     f"status of {active}: {json.dumps(cluster.nodes[active].status())}\n"
                     f"--- {cluster.other(active)} log ---\n{cluster.nodes[cluster.other(active)].log_tail()}")


def mmm(values):
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{min(values):.0f} / {statistics.median(values):.0f} / {max(values):.0f}"


def mmm_float(values):
    return "-" if not values else f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def verdict(ok):
    return "ok" if ok else "MISSED"


# ---------------------------------------------------------------- scenarios

def later_gap(writer, start, end):
    """The longest wait between acknowledged writes from the recovery to the end of the cycle: a second outage
    (a new active stepping down again, say) shows here."""
    acks, _ = writer.snapshot()
    edges = [start] + [a[2] for a in acks if start <= a[2] <= end] + [end]
    return max(b - a for a, b in zip(edges, edges[1:])) * 1000


def planned_cycle(cluster, writer, phase, i, cycles, done):
    active = cluster.find_active()
    standby = cluster.other(active)
    phase.value = "planned"
    pg_offset = file_size(cluster.nodes[standby].pg_log)
    at = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    t0 = now()
    code, output = cluster.nodes[active].admin_post("/admin/ha/cluster-stop")
    stop_ms = (now() - t0) * 1000
    if code != 200:
        raise BenchError(f"ha_cluster_stop on {active} failed ({code}): {output}")
    match = re.search(r"handover (\d+) ms, promote (\d+) ms", output)
    if not match:
        raise BenchError(f"ha_cluster_stop on {active} did not hand over: {output}")
    handover_ms, promote_ms = float(match.group(1)), float(match.group(2))
    rto, gap, kinds = wait_recovery(writer, t0, after_failure=True)
    cycle = {"at": at, "from": active, "to": standby, "rto": rto, "gap": gap, "failed": kinds, "rejoin": None,
             "promote": promote_ms, "server_promote": None, "handover": handover_ms, "stop_cli": stop_ms, "later_gap": None}
    done.append(cycle)   # kept even if the rejoin fails

    t1 = now()
    command = subprocess.Popen([cluster.args.app, "ha_cluster_start", "--node", cluster.nodes[active].peer_url, "--keys", cluster.args.key],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rejoin = wait_rejoin(cluster, standby, t1, command)
    finally:
        if command.poll() is None:
            command.kill()
        start_output = command.communicate()[0].strip()
    if command.returncode != 0:
        raise BenchError(f"ha_cluster_start on {active} failed ({command.returncode}): {start_output}")
    cycle["rejoin"] = rejoin
    cycle["server_promote"] = pg_log_promote_ms(read_from(cluster.nodes[standby].pg_log, pg_offset))
    cycle["later_gap"] = later_gap(writer, t0 + rto / 1000, now())
    progress(f"planned {i}/{cycles}: {active} → {standby}: RTO {rto:.0f} ms (write gap {gap or 0:.0f} ms, failed {kinds}), "
             f"handover {handover_ms:.0f} ms, promote {promote_ms:.0f} ms, rejoin {rejoin:.0f} ms")


def crash_cycle(cluster, writer, phase, i, cycles, done):
    active = cluster.find_active()
    standby = cluster.other(active)
    victim = cluster.nodes[active]
    phase.value = "crash"
    pg_offset = file_size(cluster.nodes[standby].pg_log)
    log_offset = file_size(cluster.nodes[standby].log)
    epoch = (cluster.nodes[active].status() or {}).get("epoch", 0)
    at = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    t0 = now()
    postmaster = victim.crash()
    if postmaster is None:
        progress(f"no running postmaster of {active} left to kill (its database guard, which kills it when the node is gone, "
                 f"may have been first)")
    rto, gap, kinds = wait_recovery(writer, t0, after_failure=True)
    node_log = read_from(cluster.nodes[standby].log, log_offset)
    detected = re.search(r"\((\d+) ms since last heard\)", node_log)
    cycle = {"at": at, "from": active, "to": standby, "rto": rto, "gap": gap, "failed": kinds, "rejoin": None,
             "promote": pg_log_promote_ms(read_from(cluster.nodes[standby].pg_log, pg_offset)),
             "detected": int(detected.group(1)) if detected else None, "takeover": None, "later_gap": None}
    cycle["server_promote"] = cycle["promote"]
    done.append(cycle)   # kept even if the rejoin fails
    progress(f"crash {i}/{cycles}: killed {active} (postmaster {postmaster}) → {standby}: RTO {rto:.0f} ms "
             f"(failed {kinds}), peer silent {cycle['detected']} ms at takeover; restarting {active}")

    t1 = now()
    victim.start()
    rejoin = wait_rejoin(cluster, standby, t1)
    # The restarted node presents a new self-signed certificate: trust it before it can become active again.
    writer.context = pinned_context([node.address for node in cluster.nodes.values()], victim.args.https_port)
    # The takeover's own record (written after the VIP moved): the one with an epoch newer than before the kill.
    history = (cluster.nodes[standby].status() or {}).get("history") or []
    failover = sorted((h for h in history if h.get("epoch", 0) > epoch), key=lambda h: h["epoch"]) or [{}]
    cycle["rejoin"] = rejoin
    cycle["takeover"] = failover[0].get("durationMs")
    cycle["later_gap"] = later_gap(writer, t0 + rto / 1000, now())
    progress(f"crash {i}/{cycles}: node-reported takeover {cycle['takeover']} ms, pg promote {cycle['promote']} ms, "
             f"rejoin {rejoin:.0f} ms, longest write gap after recovery {cycle['later_gap']:.0f} ms")


def signal_tree(pid, sig):
    for victim in [pid] + descendants(pid):
        try:
            os.kill(victim, sig)
        except ProcessLookupError:
            pass


def postmaster_of(data):
    try:
        with open(os.path.join(data, "postmaster.pid")) as f:
            pid = int(f.readline().strip())
    except (OSError, ValueError):
        return None
    return pid if data in cmdline(pid) else None


def fault_cycle(kind, cluster, writer, phase, i, cycles, done):
    """One chaos fault on the active (or on both nodes, or on the witness): RTO as the client through the VIP sees
    it, then the time until the cluster is active + sync with a connected standby again."""
    active = cluster.find_active()
    standby = cluster.other(active)
    victim = cluster.nodes[active]
    phase.value = kind
    at = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    thaw = None
    t0 = now()
    if kind == "pgkill":
        pid = victim.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
    elif kind == "freeze":
        pid = victim.process.pid
        signal_tree(pid, signal.SIGSTOP)
        thaw = threading.Timer(FREEZE_S, signal_tree, (pid, signal.SIGCONT))
    elif kind == "pgfreeze":
        pid = victim.postmaster_pid()
        if pid is not None:
            signal_tree(pid, signal.SIGSTOP)
            thaw = threading.Timer(FREEZE_S, signal_tree, (pid, signal.SIGCONT))
    elif kind == "witness":
        witness = postmaster_of(cluster.args.witness_data)
        if witness is None:
            raise BenchError("no witness postmaster found")
        signal_tree(witness, signal.SIGSTOP)
        thaw = threading.Timer(WITNESS_DOWN_S, signal_tree, (witness, signal.SIGCONT))
        thaw.start()
        time.sleep(0.5)
        victim.crash()
    elif kind == "both":
        victim.crash()
        cluster.nodes[standby].crash()
    elif kind == "linkcut":
        cluster.link(victim, "down")
        thaw = threading.Timer(LINKCUT_S, cluster.link, (victim, "up"))
    if thaw is not None and kind != "witness":
        thaw.start()
    try:
        restarted = list(cluster.nodes.values()) if kind == "both" else [victim] if kind == "witness" else []
        for node in restarted:
            node.start()
        for node in restarted:
            node.wait_live()
        if restarted:
            # A restarted node presents a new self-signed certificate: the client trusts it as a browser would after
            # its user accepted it once (the wait for it counts in the gap).
            writer.context = pinned_context([node.address for node in cluster.nodes.values()], victim.args.https_port)
        rto, gap, kinds = wait_recovery(writer, t0, after_failure=True)
    finally:
        if thaw is not None:
            thaw.join()
    cycle = {"at": at, "from": active, "to": None, "rto": rto, "gap": gap, "failed": kinds, "rejoin": None, "later_gap": None}
    done.append(cycle)
    t1 = now()
    if kind in ("pgkill", "freeze", "pgfreeze") and victim.process is None:
        victim.start()
    new_active, reached = cluster.wait_steady()
    writer.context = pinned_context([node.address for node in cluster.nodes.values()], victim.args.https_port)
    cycle["to"] = new_active
    cycle["rejoin"] = (reached - max(t1, t0 + rto / 1000)) * 1000
    cycle["later_gap"] = later_gap(writer, t0 + rto / 1000, now())
    progress(f"{kind} {i}/{cycles}: {active} → {new_active}: client-seen gap {gap or 0:.0f} ms (first ack {rto:.0f} ms after the fault, "
             f"failed {kinds}), rejoin {cycle['rejoin']:.0f} ms")


def read_all_names(host, port, password, context):
    session = Session(host, port, context, timeout=30)
    status, data = session.send("POST", "/api/session", json.dumps({"userName": "admin", "password": password}).encode())
    if status != 200:
        raise BenchError(f"login through the VIP for the final read failed: {status} {data[:300]!r}")
    names, page, total = set(), 1, None
    while True:
        status, data = session.send("GET", f"/api/accounts?pageSize=100&page={page}")
        if status != 200:
            raise BenchError(f"GET /api/accounts page {page} answered {status}: {data[:300]!r}")
        body = json.loads(data)
        names.update(item["name"] for item in body["items"])
        total = body["total"]
        if page >= body["pageCount"]:
            break
        page += 1
    session.conn.close()
    return names, total


def log_findings(cluster):
    """Warnings and errors in the node logs and PostgreSQL logs, grouped with numbers blanked out."""
    lines = []
    for name, node in cluster.nodes.items():
        groups = {}
        for path, pattern in ((node.log, r"^\d\d:\d\d:\d\d\.\d{3} (WRN|ERR|FTL) "), (node.pg_log, r"\b(WARNING|ERROR|FATAL|PANIC):")):
            try:
                with open(path, errors="replace") as f:
                    for line in f:
                        if re.search(pattern, line):
                            key = re.sub(r"\d+", "N", re.sub(PG_TS + r" \S+ \[\d+\] ", "", line.strip()))[:220]
                            groups[(os.path.basename(path), key)] = groups.get((os.path.basename(path), key), 0) + 1
            except OSError:
                pass
        for (source, key), count in sorted(groups.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {name} {source}: {count} × {key}")
    return lines


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    # Ctrl-C, or a TERM to the whole run: stop what was started (and thaw what was frozen) the same way, and say so.
    # Set explicitly: a shell that starts us in the background without job control leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    parser = argparse.ArgumentParser()
    for name in ("--app", "--key", "--work", "--primary", "--secondary", "--vip", "--witness"):
        parser.add_argument(name, required=True)
    parser.add_argument("--witness-data", default="")
    parser.add_argument("--netns", default="", help="prefix of the namespaces failover.sh made (BENCH_NETNS=1)")
    parser.add_argument("--subnet", default="", help="their private /24 (three octets)")
    parser.add_argument("--scenarios", default="planned,crash")
    for name in ("--http-port", "--https-port", "--peer-port", "--pg-port", "--heartbeat-ms", "--failover-timeout-ms", "--cycles"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args()
    reap_orphaned_servers()
    password = os.environ.get("SSM_ADMIN_PASSWORD", "")
    if len(password) < 12:
        raise SystemExit("SSM_ADMIN_PASSWORD must be set (at least 12 characters)")
    allowed = f"{args.subnet}." if args.netns else "127."
    if args.netns and not re.fullmatch(r"(10|172|192\.168)(\.\d+)+", args.subnet):
        raise SystemExit(f"--netns needs a private --subnet, not {args.subnet!r}")
    for address in (args.primary, args.secondary, args.vip):
        if not address.startswith(allowed):
            raise SystemExit(f"only {allowed}x addresses: {address}")

    cluster = Cluster(args)
    phase = Phase()
    writer = Writer(args.vip, args.https_port, password, phase)
    sampler = Sampler(list(cluster.nodes.values()), phase)
    vip_watch = VipWatch(list(cluster.nodes.values()), args.vip, phase) if args.netns else None
    kinds = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in TARGETS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {', '.join(TARGETS)}")
    if "linkcut" in kinds and not args.netns:
        raise SystemExit("linkcut needs hosts of their own: BENCH_NETNS=1 (root)")
    loads = []   # the 1-minute load average when each fault starts
    results = {k: [] for k in kinds}
    error = None
    try:
        progress(f"Starting primary ({args.primary}) and secondary ({args.secondary}), http port {args.http_port}, "
                 f"PostgreSQL port {args.pg_port}")
        for node in cluster.nodes.values():
            node.start()
        for node in cluster.nodes.values():
            node.wait_live()
        writer.context = pinned_context([args.primary, args.secondary], args.https_port)
        progress(f"Deploying the cluster (VIP {args.vip})")
        result, ms = cluster.cli("ha_deploy", "primary", "--peer", cluster.nodes["secondary"].peer_url, "--vip", args.vip)
        if result.returncode != 0:
            raise BenchError(f"ha_deploy failed ({result.returncode}): {(result.stdout + result.stderr).strip()}\n"
                             f"{cluster.nodes['primary'].log_tail()}")
        progress(f"{result.stdout.strip()} ({ms:.0f} ms)")
        cluster.wait_steady()
        sampler.start()
        if vip_watch:
            vip_watch.start()
        writer.start()
        time.sleep(2 * SETTLE_S)
        if not writer.snapshot()[0]:
            raise BenchError(f"no write acknowledged through the VIP after {2 * SETTLE_S:g} s; failures: {writer.snapshot()[1][-5:]}")

        # planned,crash alone keep the old order (all of one, then the other); more kinds are mixed, in an order
        # shuffled each round (a seed printed in the report).
        order = [(k, i) for k in kinds for i in range(1, args.cycles + 1)]
        if len(kinds) > 2:
            import random
            seed = int(os.environ.get("CHAOS_SEED", str(int(time.time()))))
            rng = random.Random(seed)
            order = []
            for i in range(1, args.cycles + 1):
                round_kinds = list(kinds)
                rng.shuffle(round_kinds)
                order.extend((k, i) for k in round_kinds)
            progress(f"chaos order seed {seed} (CHAOS_SEED={seed} repeats it)")
        runners = {"planned": planned_cycle, "crash": crash_cycle}
        for scenario, i in order:
            phase.value = "between"
            cluster.wait_steady()
            time.sleep(SETTLE_S)
            loads.append(load_average())
            if scenario in runners:
                runners[scenario](cluster, writer, phase, i, args.cycles, results[scenario])
            else:
                fault_cycle(scenario, cluster, writer, phase, i, args.cycles, results[scenario])
        phase.value = "between"
        cluster.wait_steady()
        time.sleep(SETTLE_S)
    except BenchError as e:
        error = str(e)
    except KeyboardInterrupt:
        error = "interrupted"
    finally:
        writer.stopping.set()
        sampler.stopping.set()
        if vip_watch:
            vip_watch.stopping.set()
        if writer.is_alive():
            writer.join(timeout=5)
        if sampler.is_alive():
            sampler.join(timeout=5)

    report = []
    try:
        acks, failures = writer.snapshot()
        names, total, read_error = set(), None, None
        if error != "interrupted":
            # Also after a failure: whatever node holds the VIP now must still have every acknowledged write.
            progress("Reading every account back through the VIP")
            phase.value = "verify"
            try:
                names, total = read_all_names(args.vip, args.https_port, password, writer.context)
            except (BenchError, OSError, http.client.HTTPException, ValueError) as e:
                read_error = f"final read through the VIP failed: {e}"
                error = error or read_error
        lost_by_phase = {}
        ambiguous_by_phase = {}
        if total is not None:
            for name, _, _, p in acks:
                if name not in names:
                    lost_by_phase[p] = lost_by_phase.get(p, 0) + 1
            # Writes the client was told failed (or never told) that did happen: the client cannot know its answer.
            for name, p in writer.unanswered:
                if name in names:
                    ambiguous_by_phase[p] = ambiguous_by_phase.get(p, 0) + 1

        report.append(f"cluster: primary {args.primary}, secondary {args.secondary}, VIP {args.vip}:{args.http_port}, "
                      f"heartbeat {args.heartbeat_ms} ms, failover timeout {args.failover_timeout_ms} ms, "
                      f"{args.cycles} cycles per scenario")
        report.append(f"network: network namespaces {args.netns}-{{p,s,w,c}} on a bridge ({args.subnet}.0/24), VIP by the ip provider "
                      f"(gratuitous ARP), client and sampler in {args.netns}-c; link cut = the active's bridge port down {LINKCUT_S:g} s"
                      if args.netns else "network: loopback addresses, VIP by the loopback provider (nftables redirect); no link cut")
        report.append(f"load average (1 min) when each fault started, min/med/max: {mmm_float(loads)}; at the end: {load_average():.2f}")
        header = (f"{'scenario (cycles)':<26} {'gap ms min/med/max':<20} {'RTO ms min/med/max':<20} {'target':<15} {'rejoin ms min/med/max':<22} {'target':<17} "
                  f"{'promote ms min/med/max':<23} {'RTO/promote':>11} {'acked':>7} {'lost':>8} {'2 writable':>11} {'2 acking':>9}")
        report.append(header)
        report.append("-" * len(header))
        for scenario in kinds:
            title = TITLES[scenario]
            cycles = results[scenario]
            rtos = [c["rto"] for c in cycles]
            rejoins = [c["rejoin"] for c in cycles if c["rejoin"] is not None]
            promotes = [c["promote"] for c in cycles if c.get("promote") is not None]
            gaps = [c["gap"] for c in cycles]
            acked = sum(1 for a in acks if a[3] == scenario)
            lost = lost_by_phase.get(scenario, 0) if total is not None else None
            samples = sampler.counts.get(scenario, [0, 0, 0, 0])
            target = TARGETS[scenario]
            gap_ok = bool(gaps) and statistics.median(gaps) <= target
            rejoin_ok = (bool(rejoins) and len(rejoins) == len(cycles) and statistics.median(rejoins) <= REJOIN_TARGET_MS
                         and max(rejoins) <= REJOIN_LIMIT_MS)
            ratio = (f"{statistics.median(rtos) / statistics.median(promotes):.1f}x" if rtos and promotes else "-")
            lost_text = "?" if lost is None else f"{lost} {verdict(lost == 0)}"
            report.append(f"{title + ' (' + str(len(cycles)) + ')':<26} {mmm(gaps):<20} {mmm(rtos):<20} {'med<=' + str(target) + ' ' + verdict(gap_ok):<15} "
                          f"{mmm(rejoins):<22} {'med<=' + str(REJOIN_TARGET_MS) + ' ' + verdict(rejoin_ok):<17} "
                          f"{mmm(promotes):<23} {ratio:>11} {acked:>7} {lost_text:>8} "
                          f"{samples[2]:>11} {str(samples[3]) + ' ' + (verdict(samples[3] == 0) if sampler.completed else 'INCOMPLETE'):>9}")
        report.append("targets: gap median <= " + ", ".join(f"{k} {TARGETS[k]} ms" for k in kinds)
                      + f"; rejoin median <= {REJOIN_TARGET_MS} ms and every rejoin <= {REJOIN_LIMIT_MS} ms, lost = 0, "
                      "two-acknowledging samples = 0")
        report.append("gap: the longest time between two acknowledged writes of the client around the fault (last one before, "
                      "first one after, through the VIP on keep-alive connections): what a user of the API sees.")
        report.append("RTO: planned = from the moment the node is asked to stop (POST /admin/ha/cluster-stop, what `ssm ha_cluster_stop` sends) to the "
                      "first write acknowledged after the old active let go; crash = from the kill -9 to the first write "
                      "acknowledged through the VIP.")
        report.append("promote: planned = 'promote M ms' printed by ha_cluster_stop (pg_promote + wait, measured by the node); "
                      "crash = the promoted PostgreSQL's own log, 'received promote request' to 'ready to accept connections'.")
        for scenario in kinds:
            cycles = results[scenario]
            if not cycles:
                continue
            report.append(f"{scenario} per cycle:")
            for n, c in enumerate(cycles, 1):
                failed = ", ".join(f"{k} {v}" for k, v in sorted(c["failed"].items())) or "none"
                extra = (f"handover {c['handover']:.0f} ms inside the node, CLI stop {c['stop_cli']:.0f} ms "
                         f"(so ~{c['stop_cli'] - c['handover']:.0f} ms of CLI start-up), server-log promote "
                         f"{c['server_promote'] if c['server_promote'] is None else round(c['server_promote'])} ms"
                         if scenario == "planned" else
                         f"peer silent {c['detected']} ms at takeover, node-reported takeover {c['takeover']} ms"
                         if scenario == "crash" else f"active after: {c['to']}")
                gap = "-" if c["gap"] is None else f"{c['gap']:.0f}"
                rejoin = "FAILED" if c["rejoin"] is None else f"{c['rejoin']:.0f}"
                later = ("-" if c["later_gap"] is None else f"{c['later_gap']:.0f}"
                         + (" (A SECOND OUTAGE)" if c["later_gap"] > args.failover_timeout_ms else ""))
                report.append(f"  {n}. {c['at']} {c['from']} → {c['to']}: RTO {c['rto']:.0f}, write gap {gap}, rejoin {rejoin}, "
                              f"promote {'-' if c.get('promote') is None else round(c['promote'])} ms; {extra}; "
                              f"longest write gap after the recovery until rejoined {later}; failed attempts: {failed}")
            report.append(f"  write gap ms (last ack before → first ack after) min/med/max: {mmm([c['gap'] for c in cycles])}")
        report.append(f"writes acknowledged in total: {len(acks)} (failed attempts {len(failures)}, logins {writer.logins}); "
                      f"accounts read back: {'-' if total is None else total}; "
                      f"lost in total: {'?' if total is None else sum(lost_by_phase.values())}"
                      + (f" ({read_error})" if read_error else ""))
        report.append("writes that failed or timed out at the client yet were committed (ambiguous answers), by phase: "
                      + (", ".join(f"{p} {n}" for p, n in sorted(ambiguous_by_phase.items())) or "none"))
        report.append("two-writer sampler (samples / both answered / both writable / both could acknowledge): " + ", ".join(
            f"{p} {c[0]}/{c[1]}/{c[2]}/{c[3]}" for p, c in sampler.counts.items()) + (f"; sampler error: {sampler.error}" if sampler.error else "")
            + (f"; {sampler.failures} samples failed, last: {sampler.last_failure}" if sampler.failures else "")
            + (f"; {sampler.unconfirmed} samples read both as able to acknowledge one after the other, not confirmed by a second read"
               if sampler.unconfirmed else "")
            + ("" if sampler.completed else "; THE SAMPLER STOPPED EARLY: the two-writer counts cover only part of the run"))
        if vip_watch:
            report.append("VIP on eth0 of the node hosts, every 250 ms (samples / on both hosts / on neither): " + ", ".join(
                f"{p} {c[0]}/{c[1]}/{c[2]}" for p, c in vip_watch.counts.items()) + (f"; watch error: {vip_watch.error}" if vip_watch.error else ""))
        report.append("client backends seen waiting on the writable server (wait event: samples): " + ("; ".join(
            f"{p} " + ", ".join(f"{e} {n}" for e, n in sorted(w.items(), key=lambda kv: -kv[1])[:6])
            for p, w in sampler.waits.items() if w) or "none"))
        findings = log_findings(cluster)
        report.append(f"warnings/errors in the node and PostgreSQL logs: {len(findings)} distinct" + (":" if findings else ""))
        report.extend(findings[:60])
    finally:
        for node in cluster.nodes.values():
            node.stop()
    finish(report, error)


if __name__ == "__main__":
    main()
