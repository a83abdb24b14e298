"""What the benchmark drivers share (imported from bench/, beside them)."""
import collections
import ctypes
import http.client
import http.cookies
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time

# The dashboard and the API are HTTPS only, and cookie-authenticated writes need this header (decision 0016).
REQUESTED_WITH = {"X-Requested-With": "bench"}


def tool(app, name):
    """A program of tools/ (csc-emulator, product-simulator), published in a folder of its own beside ssm."""
    return os.path.join(os.path.dirname(app), name, name)


def pinned_context(addresses, port, cafile=None):
    """TLS that trusts exactly the certificates the nodes present now (self-signed until CSC signs one),
    and CSC's root if given. A node's self-signed certificate names its own address, not the VIP: the
    host name is not checked, the certificate itself is."""
    pems = "".join(server_certificate(address, port) for address in addresses)
    context = ssl.create_default_context(cafile=cafile, cadata=pems)
    context.check_hostname = False
    return context


def server_certificate(address, port, timeout=60):
    """The certificate the node presents, waiting for its HTTPS port: a restarted node opens it only once it has
    rejoined (decision 0015)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ssl.get_server_certificate((address, port), timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop_process(process, pid_file):
    """Stops a process this driver started: SIGTERM, SIGKILL after 30 s; then empties its pid file, so the
    wrapper script's cleanup does not signal a pid that may belong to someone else by then."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    open(pid_file, "w").close()


def cpu_seconds(pid):
    """User + system CPU time the process has used so far (without its children)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


ProcessStat = collections.namedtuple("ProcessStat", "pid comm state ppid cpu_seconds")


def processes():
    """Every process, read from /proc (those that vanish meanwhile left out): pid, command name, state letter, parent
    pid, and CPU seconds used so far with its waited-for children (PostgreSQL's exited autovacuum workers count under
    the postmaster)."""
    ticks = os.sysconf("SC_CLK_TCK")
    result = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            rest = stat[stat.rindex(")") + 2:].split()
            result.append(ProcessStat(int(entry), stat[stat.index("(") + 1:stat.rindex(")")], rest[0], int(rest[1]),
                                      sum(int(v) for v in rest[11:15]) / ticks))
        except (OSError, ValueError, IndexError):
            continue
    return result


def reap_orphaned_servers():
    """Makes this process the reaper of its orphaned descendants (prctl PR_SET_CHILD_SUBREAPER), as systemd or a
    container's init (compose.yaml: init: true) is for the nodes in production, and reaps each PostgreSQL server among
    them the moment it exits. This machine's PID 1 reaps an orphan only about 1.6 s after it died (a double-forked
    `sleep` killed with -9), and a PostgreSQL server that is still a zombie blocks its own restart (its lock file names
    a pid that exists): a node restarted after kill -9 waited that long before its crash recovery, which no production
    host makes it do. Other children are left to the waits of whoever started them."""
    PR_SET_CHILD_SUBREAPER = 36
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        progress("could not become the reaper of orphaned PostgreSQL servers (prctl); restarts wait for PID 1 to reap them")
        return
    own = os.getpid()

    def zombie_servers():
        return [p.pid for p in processes() if p.comm == "postgres" and p.state == "Z" and p.ppid == own]

    def reap():
        while True:
            try:
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)   # blocks until a child has exited; reaps nothing
            except ChildProcessError:
                time.sleep(0.05)
                continue
            reaped = 0
            for pid in zombie_servers():
                try:
                    os.waitpid(pid, 0)
                    reaped += 1
                except ChildProcessError:
                    pass
            if not reaped:
                time.sleep(0.005)   # a child of our own code, which its own wait reaps

    threading.Thread(target=reap, name="reaper", daemon=True).start()


class BenchError(Exception):
    pass


def progress(message):
    """Progress goes to stderr; the report is what a driver prints on stdout."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def log_tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def cookie_header(cookies, headers):
    """Adds the session cookies kept so far to a request's headers."""
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return headers


def keep_cookies(response, cookies):
    """Remembers the cookies a response sets (the session cookie after a login)."""
    for header in response.msg.get_all("Set-Cookie") or []:
        jar = http.cookies.SimpleCookie()
        jar.load(header)
        cookies.update({name: morsel.value for name, morsel in jar.items()})


class Session:
    """One keep-alive HTTP or HTTPS (with a context) connection that keeps the cookies the server sets.
    A connection the server closed while idle (Kestrel: after 130 s) is opened anew once; connects counts them."""

    def __init__(self, host, port, context=None, timeout=120):
        self.host, self.port, self.context, self.timeout = host, port, context, timeout
        self.conn, self.cookies, self.connects = None, {}, 0

    def _connect(self):
        self.connects += 1
        if self.context is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)

    def send(self, method, path, body=None, headers=None, content_type="application/json"):
        """Sends BODY (bytes) and returns (status, data)."""
        h = {"Accept": "application/json", **REQUESTED_WITH}
        if body is not None:
            h["Content-Type"] = content_type
        h.update(headers or {})
        cookie_header(self.cookies, h)
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            reused = self.conn.sock is not None
            try:
                self.conn.request(method, path, body=body, headers=h)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2 or not reused:
                    raise
        keep_cookies(response, self.cookies)
        return response.status, data

    def json(self, method, path, body=None, expect=(200,), headers=None):
        """Sends BODY as JSON and returns the answer parsed; another status than EXPECT is a BenchError."""
        status, data = self.send(method, path, None if body is None else json.dumps(body).encode(), headers)
        if status not in expect:
            raise BenchError(f"{method} {path} answered {status}, expected {expect}: {data[:500]!r}")
        return json.loads(data) if data else None


class Process:
    """A child process whose pid is written to a file (the wrapper script stops it by that pid if we cannot)."""

    def __init__(self, name, command, log, pid_file, env=None, new_session=False):
        self.name, self.log, self.pid_file = name, log, pid_file
        with open(log, "ab") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                            env=env, start_new_session=new_session)
        with open(pid_file, "w") as f:
            f.write(str(self.process.pid))

    @property
    def pid(self):
        return self.process.pid

    def check(self):
        if self.process.poll() is not None:
            raise BenchError(f"{self.name} exited with code {self.process.returncode}:\n{log_tail(self.log)}")

    def stop(self):
        stop_process(self.process, self.pid_file)

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        return cpu_seconds(self.pid)

    def status_kib(self, field):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise BenchError(f"no {field} in /proc/{self.pid}/status")


def wait_until(what, probe, timeout, check=lambda: None, interval=0.05):
    """Returns once PROBE() is true; CHECK() raises if what we wait on died. A probe that cannot connect yet counts
    as not yet; after TIMEOUT seconds a BenchError names WHAT and the last error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        check()
        try:
            if probe():
                return
        except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as error:
            last = error
        if time.monotonic() > deadline:
            raise BenchError(f"{what} not within {timeout} s" + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


def finish(report, error=None):
    """Prints the report on stdout; a benchmark that failed says so last and exits with 1."""
    if error:
        report.append(f"BENCHMARK FAILED: {error}")
    print("\n".join(report), flush=True)
    if error:
        sys.exit(1)


def run(main):
    """Runs a driver's main: a BenchError ends it with its message (and exit code 1), not a traceback."""
    try:
        main()
    except BenchError as error:
        raise SystemExit(str(error))
