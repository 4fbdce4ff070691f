"""A real headless Chromium for tests, driven over the DevTools protocol, with the network off.

:class:`OfflineBrowser` starts Debian's ``chromium`` with ``--remote-debugging-pipe``
(the protocol as NUL-separated JSON on file descriptors 3 and 4: no port, no
websocket library), a proxy at an address where nothing listens and a host
resolver that resolves nothing, so any request a page makes to a network
fails and is reported. :meth:`OfflineBrowser.open` loads one page and returns
a :class:`PageReport`: every request (URL and failure), console errors and
uncaught exceptions, dialogs (a script that ran), each ``<img>``'s natural
size, a screenshot of the first screen and one of each image as it is drawn.

Stopped by PID: ``Browser.close`` first, then terminate, then kill, then any
process left in its process group.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The flags that cut the page off from any network: a proxy where nothing
#: listens (port 9, discard, on loopback) and a resolver that finds no host.
OFFLINE_FLAGS = ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")

_QUIET_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--metrics-recording-only", "--mute-audio", "--hide-scrollbars",
)

#: Schemes a single-file page may load from (itself and its embedded images).
LOCAL_SCHEMES = ("file:", "data:", "about:")


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer."""


def chromium_binary() -> str | None:
    """Path of Debian's ``chromium`` (or ``chromium-browser``), else ``None``."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def need_chromium() -> str:
    """Path of chromium for a test; skip with the reason when absent (fail under ``CI``)."""
    import pytest

    path = chromium_binary()
    if path is None:
        message = "chromium not installed (Debian: apt-get install -y chromium; scripts/install-system-deps.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@dataclass
class PageReport:
    """What happened when one page was opened."""

    url: str
    requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    screenshot: bytes = b""
    image_shots: list[bytes] = field(default_factory=list)

    @property
    def network_requests(self) -> list[str]:
        """Requests to anything but the file itself and its embedded data."""
        return [u for u in self.requests if not u.startswith(LOCAL_SCHEMES)]


def png_pixel_spread(png: bytes) -> float:
    """Standard deviation of a PNG's grey levels (0 for a blank, single-colour picture)."""
    import numpy as np
    from matplotlib import image as mpimg

    pixels = mpimg.imread(io.BytesIO(png), format="png")
    grey = pixels[..., :3].mean(axis=-1) if pixels.ndim == 3 else pixels
    return float(np.asarray(grey, dtype=float).std())


class OfflineBrowser:
    """Headless Chromium with the network off; a context manager."""

    def __init__(self, binary: str | None = None, *, width: int = 1280, height: int = 1600,
                 timeout: float = 30.0) -> None:
        self.binary = binary or chromium_binary()
        if not self.binary:
            raise BrowserError("chromium is not installed")
        self.width, self.height, self.timeout = width, height, timeout
        self.process: subprocess.Popen | None = None
        self._profile: tempfile.TemporaryDirectory | None = None
        self._to_browser = self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session = ""

    # -- process -------------------------------------------------------------------------------

    def start(self) -> "OfflineBrowser":
        self._profile = tempfile.TemporaryDirectory(prefix="stabmon-chromium-")
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        # Above 4, so the shell's moves onto 3 and 4 cannot overwrite them.
        commands_read, answers_write = (_above(fd, 10) for fd in (commands_read, answers_write))
        args = [*_QUIET_FLAGS, *OFFLINE_FLAGS, "--remote-debugging-pipe",
                f"--user-data-dir={self._profile.name}", f"--window-size={self.width},{self.height}", "about:blank"]
        # Chromium reads the protocol on fd 3 and writes on fd 4: bash moves the pipes there (dash takes one digit).
        script = f'exec "$0" "$@" 3<&{commands_read} 4>&{answers_write} {commands_read}<&- {answers_write}>&-'
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", script, self.binary, *args], pass_fds=(commands_read, answers_write),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        os.close(commands_read)
        os.close(answers_write)
        self._to_browser, self._from_browser = commands_write, answers_read
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Network", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=True)
            self.call("Emulation.setDeviceMetricsOverride", session=True, width=self.width, height=self.height,
                      deviceScaleFactor=1, mobile=False)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the browser; terminate and kill it (and its process group) by PID if it lingers."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                self._send("Browser.close")
                process.wait(timeout=5)
            except (BrowserError, OSError, subprocess.TimeoutExpired):
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)  # helpers (zygote, renderers) left in its group
            except (ProcessLookupError, PermissionError):
                pass
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                os.close(fd)
        self._to_browser = self._from_browser = -1
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None
        self.process = None

    def __enter__(self) -> "OfflineBrowser":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- protocol ------------------------------------------------------------------------------

    def _send(self, method: str, session: bool = False, **params: Any) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_browser, data):]
        except OSError as exc:
            raise BrowserError(f"chromium closed its protocol pipe: {exc}") from None
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise BrowserError("chromium exited")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        wanted = self._send(method, session, **params)
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._receive(deadline)
            if message.get("id") == wanted:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._record(message)

    def _record(self, event: dict[str, Any]) -> None:
        """Keep an event; dismiss a dialog at once (it would block the page's load event)."""
        self._events.append(event)
        if event["method"] == "Page.javascriptDialogOpening":
            self._send("Page.handleJavaScriptDialog", session=True, accept=False)

    def _wait_event(self, method: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e["method"] == method for e in self._events):
            message = self._receive(deadline)
            if "method" in message:
                self._record(message)

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        try:
            while True:
                message = self._receive(deadline)
                if "method" in message:
                    self._record(message)
        except BrowserError:
            if self.process is None or self.process.poll() is not None:
                raise

    # -- pages ---------------------------------------------------------------------------------

    def open(self, url: str, *, settle: float = 0.3, image_shots: int = 0) -> PageReport:
        """Load ``url`` and report what it fetched, what failed, its console errors, images and screenshots.

        ``settle`` seconds after the load event catch requests a script makes
        late; ``image_shots`` screenshots that many images, each clipped to
        the box it is drawn in.
        """
        self._events = []
        self.call("Page.navigate", session=True, url=url)
        self._wait_event("Page.loadEventFired")
        self._drain(settle)
        report = PageReport(url=url)
        urls: dict[str, str] = {}
        for event in self._events:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
                report.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                report.failed_requests.append(f"{urls.get(params['requestId'], '?')}: {params.get('errorText')}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                report.console_errors.append(f"exception: {details.get('exception', {}).get('description') or details.get('text')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                report.console_errors.append(f"console.{params['type']}: {text}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                report.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Page.javascriptDialogOpening":
                report.dialogs.append(params.get("message", ""))
        images = self.call("Runtime.evaluate", session=True, returnByValue=True, expression="""
            Array.from(document.images).map(img => {
                const box = img.getBoundingClientRect();
                return {complete: img.complete, naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight,
                        x: box.left + window.scrollX, y: box.top + window.scrollY,
                        width: box.width, height: box.height};
            })""")
        report.images = images.get("result", {}).get("value") or []
        shot = self.call("Page.captureScreenshot", session=True, format="png")
        report.screenshot = base64.b64decode(shot["data"])
        for image in report.images[:image_shots]:
            if image["width"] <= 0 or image["height"] <= 0:
                report.image_shots.append(b"")
                continue
            clip = {"x": image["x"], "y": image["y"], "width": image["width"], "height": image["height"], "scale": 1}
            shot = self.call("Page.captureScreenshot", session=True, format="png", clip=clip,
                             captureBeyondViewport=True)
            report.image_shots.append(base64.b64decode(shot["data"]))
        return report


def _above(fd: int, lowest: int) -> int:
    """``fd`` moved to a descriptor number >= ``lowest`` (the old one closed)."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.close(fd)
    return moved


def file_url(path: Path) -> str:
    """``file://`` URL of a local file."""
    return Path(path).resolve().as_uri()
