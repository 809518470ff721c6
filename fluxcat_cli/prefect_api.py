"""The Prefect API a command's flow reports to: $PREFECT_API_URL or Prefect's own settings when they name one, else a
temporary server launched the moment the command starts, so that its start-up overlaps the command's own checks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time

STARTUP_SETTING = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"  # Prefect's own setting, default 20 s there
# Beside six CPU-bound processes the flow started 25.9 s after launch, past Prefect's own 20 s (benchmarks/RESULTS.md,
# "Issue 18: start-up"); 300 s leaves room for a machine busier still.
DEFAULT_STARTUP_SECONDS = 300
ADDRESS_IN_USE = 3  # uvicorn's exit status when another process took the port first


class PrefectUnavailable(RuntimeError):
    """No Prefect API to report to: the message says what happened and what to set."""


def startup_limit() -> int:
    """Seconds to wait for the temporary server: Prefect's setting when given, else a limit that fits a busy machine."""
    from pydantic import TypeAdapter, ValidationError

    from fluxcat.errors import UserError

    text = os.environ.get(STARTUP_SETTING)
    if text is None:
        return DEFAULT_STARTUP_SECONDS
    try:
        seconds = TypeAdapter(int).validate_python(text)  # as Prefect's own setting (an int) will read it
    except ValidationError:
        seconds = 0
    if seconds <= 0:
        raise UserError(f"{STARTUP_SETTING} must be a positive whole number of seconds, got {text!r}")
    return seconds


class PrefectApi:
    """`api = PrefectApi.launch()` first thing; `api.ready()` just before the flow; `api.close()` after it."""

    def __init__(self, limit: float):
        self.limit = limit
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.started = time.monotonic()
        self._log = None
        self._previous = {name: os.environ.get(name) for name in ("PREFECT_API_URL", "PREFECT_UI_URL")}

    @classmethod
    def launch(cls) -> "PrefectApi":
        """Start a temporary server now, unless an API is already configured (then this does nothing)."""
        api = cls(startup_limit())
        if not _configured_url():
            api._spawn()
        return api

    @property
    def temporary(self) -> bool:
        """Whether the flow reports to the temporary server this command started (it has no UI)."""
        return self.process is not None

    def ready(self) -> None:
        """Wait for the temporary server (up to the limit) and point every Prefect client at it, subprocesses too."""
        if self.process is None:
            return
        from prefect.context import refresh_global_settings_context
        from prefect.settings import get_current_settings

        if get_current_settings().api.url:  # a profile or prefect.toml names a server: report there instead
            self._stop()
            return
        self._wait_until_healthy()
        os.environ["PREFECT_API_URL"] = self.url  # inherited by Dask and Ray worker processes
        os.environ["PREFECT_UI_URL"] = ""  # it serves no UI: no "View at" link that cannot open
        refresh_global_settings_context()  # read by Prefect's background threads (logs, events)

    def close(self) -> None:
        """Send the run's last logs and events, then stop the temporary server."""
        if self.process is None:
            return
        if self.url and os.environ.get("PREFECT_API_URL") == self.url:
            _drain_prefect_workers()
            for name, value in self._previous.items():
                _restore(name, value)
            from prefect.context import refresh_global_settings_context

            refresh_global_settings_context()
        self._stop()

    def _spawn(self) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        # The command and private switches Prefect's own temporary server uses (prefect.server.api.server,
        # SubprocessASGIServer): no UI, and only the services a temporary server runs.
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        self._log = tempfile.NamedTemporaryFile(prefix="fluxcat-prefect-server-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host",
             "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def _wait_until_healthy(self) -> None:
        import httpx

        deadline = self.started + self.limit
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == ADDRESS_IN_USE:
                self._spawn()
                continue
            if code is not None:
                raise PrefectUnavailable(f"Prefect's temporary server exited with status {code} before it answered; "
                                         f"its log is {self._log.name}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self._stop()
        raise PrefectUnavailable(
            f"Prefect's temporary server did not answer within {self.limit:g} s (a busy machine?); set "
            f"{STARTUP_SETTING} to wait longer, or PREFECT_API_URL to a running server (`prefect server start`)")

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None


def _configured_url() -> str | None:
    """$PREFECT_API_URL, or, where Prefect is already loaded (a test harness, a caller's own settings), its API URL.
    Otherwise Prefect is not imported here: importing it costs seconds that the server's start-up should overlap."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if "prefect.settings" in sys.modules:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url
    return None


def _drain_prefect_workers() -> None:
    """Logs and events still queued in this process go out before their server stops (as prefect_test_harness does)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    EventsWorker.drain_all(timeout=10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
