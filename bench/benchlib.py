"""What the benchmark drivers share (imported from bench/, beside them)."""
import signal
import subprocess


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
