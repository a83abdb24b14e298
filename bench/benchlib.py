"""What the benchmark drivers share (imported from bench/, beside them)."""
import os
import signal
import ssl
import subprocess
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
