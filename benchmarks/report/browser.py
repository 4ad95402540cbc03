"""Load a page in headless Chromium and list every resource that did not load, from the browser's own
network and console logs (Chrome DevTools Protocol over `--remote-debugging-pipe`: no port, no websocket).

Used by the report's test and by `m2l2 report --check`, which also saves a screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from m2l2.errors import M2L2Error

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--mute-audio",
    "--disable-dev-shm-usage",  # containers often have a small /dev/shm
    "--remote-debugging-pipe",
)
# Waits until every <audio> has its metadata (or an error) and reports each <audio> and <img>.
MEDIA_STATE_JS = """
(async () => {
  const audios = [...document.querySelectorAll('audio')];
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline && audios.some(a => a.readyState < 1 && !a.error)) {
    await new Promise(r => setTimeout(r, 50));
  }
  return JSON.stringify({
    audio: audios.map(a => ({src: a.currentSrc || a.src, ready: a.readyState, error: a.error ? a.error.code : null,
                             duration: a.duration})),
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, complete: i.complete, width: i.naturalWidth})),
    height: document.documentElement.scrollHeight,
  });
})()
"""


@dataclass
class PageCheck:
    url: str
    audio: int = 0
    images: int = 0
    failures: list[str] = field(default_factory=list)  # resources that did not load, console errors
    screenshot: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def find_chromium() -> str | None:
    """The Chromium executable ($M2L2_CHROMIUM, then the usual names on PATH), or None."""
    env = os.environ.get("M2L2_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


class _Pipe:
    """CDP client: JSON messages separated by NUL bytes on the browser's fds 3 (in) and 4 (out)."""

    def __init__(self, exe: str, profile: str, width: int, height: int) -> None:
        self.exe = exe  # named by errors about the browser
        to_browser_r, self._w = os.pipe()
        self._r, from_browser_w = os.pipe()
        child_in, child_out = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)

        def wire() -> None:  # in the child: the pipe ends become fds 3 and 4
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        args = [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        self.proc = subprocess.Popen(
            args, preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._next = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60):
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise M2L2Error(
                        f"Chromium refused {method}, {reply['error'].get('message')} ({self.exe}): use a "
                        "recent Chromium, or set M2L2_CHROMIUM to one"
                    )
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60) -> dict:
        deadline = time.time() + timeout
        for i, ev in enumerate(self.events):
            if ev.get("method") == method:
                return self.events[i]
        while True:
            ev = self._read(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev

    def _read(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.time()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise M2L2Error(
                    f"Chromium did not answer in time ({self.exe}): check that it runs headless on this "
                    "machine, or set M2L2_CHROMIUM to another Chrome/Chromium"
                )
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise M2L2Error(
                    f"Chromium exited early ({self.exe}): check that it runs headless on this machine, or "
                    "set M2L2_CHROMIUM to another Chrome/Chromium"
                )
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            os.write(self._w, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._w)
            os.close(self._r)


def _failures(events: list[dict]) -> list[str]:
    """Failed requests, HTTP-style errors, console errors and exceptions from the collected CDP events."""
    urls, out = {}, []
    for ev in events:
        method, p = ev.get("method"), ev.get("params", {})
        if method == "Network.requestWillBeSent":
            urls[p["requestId"]] = p["request"]["url"]
        elif method == "Network.loadingFailed" and not p.get("canceled"):
            out.append(f"failed to load {urls.get(p['requestId'], p['requestId'])}: {p.get('errorText')}")
        elif method == "Network.responseReceived" and p["response"].get("status", 200) >= 400:
            out.append(f"HTTP {p['response']['status']} for {p['response']['url']}")
        elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
            out.append(f"console: {p['entry'].get('text')} ({p['entry'].get('url', '')})")
        elif method == "Runtime.exceptionThrown":
            out.append(f"exception: {p['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and p.get("type") == "error":
            out.append("console.error: " + " ".join(str(a.get("value")) for a in p.get("args", [])))
    return out


def check_page(
    html: str | Path, screenshot: str | Path | None = None, width: int = 1280, height: int = 1800
) -> PageCheck:
    """Load `html` from disk in headless Chromium; every <audio> must reach its metadata and every <img> decode,
    with no failed request or console error. `screenshot`: save the top `height` pixels there as PNG."""
    exe = find_chromium()
    if exe is None:
        raise M2L2Error(
            f"no Chromium found ($M2L2_CHROMIUM, PATH: {', '.join(CHROMIUM_NAMES)}): run `make install` (it "
            "installs Debian's chromium), or set M2L2_CHROMIUM to a Chrome/Chromium executable"
        )
    url = Path(html).resolve().as_uri()
    check = PageCheck(url)
    with tempfile.TemporaryDirectory(prefix="m2l2-chromium-") as profile:
        cdp = _Pipe(exe, profile, width, height)
        try:
            target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Network", "Log", "Runtime", "Page"):
                cdp.send(f"{domain}.enable", session=session)
            cdp.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                session,
            )
            cdp.send("Page.navigate", {"url": url}, session)
            cdp.wait_for("Page.loadEventFired")
            state = cdp.send(
                "Runtime.evaluate",
                {"expression": MEDIA_STATE_JS, "awaitPromise": True, "returnByValue": True},
                session,
            )
            media = json.loads(state["result"]["value"])
            if screenshot is not None:
                shot = cdp.send("Page.captureScreenshot", {"format": "png"}, session)
                check.screenshot = Path(screenshot)
                check.screenshot.parent.mkdir(parents=True, exist_ok=True)
                check.screenshot.write_bytes(base64.b64decode(shot["data"]))
            cdp.send("Runtime.evaluate", {"expression": "1"}, session)  # flush pending log events
        finally:
            cdp.close()
    check.audio, check.images = len(media["audio"]), len(media["images"])
    check.failures = _failures(cdp.events)
    for a in media["audio"]:
        if a["error"] is not None or a["ready"] < 1:
            check.failures.append(
                f"audio did not load: {a['src']} (error {a['error']}, readyState {a['ready']})"
            )
    for img in media["images"]:
        if not img["complete"] or img["width"] == 0:
            check.failures.append(f"broken image: {img['src']}")
    return check
