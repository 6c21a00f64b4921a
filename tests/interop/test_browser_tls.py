"""Headless Chromium loads echo_server's test page over https; the page
connects back with wss://, sends "WebSocket rocks", shows the echo and
closes. Chromium is driven over the DevTools protocol with the Python
`websockets` client; the test profile alone ignores certificate errors
(the certificate comes from a throwaway CA).

usage: test_browser_tls.py ECHO_SERVER MAKE_TEST_CA
"""
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop_common import (EchoServer, TestFailure, check, log,  # noqa: E402
                            main_wrapper, require_module)

websockets = require_module("websockets")

CHROMIUM = os.environ.get("WSPROTO_CHROMIUM", "/usr/bin/chromium")
EXPECTED = ["CONNECTED", "SENT: WebSocket rocks",
            "RESPONSE: WebSocket rocks", "DISCONNECTED"]


def start_chromium(profile):
    """Chromium with DevTools on a port it picks; the port and the browser
    endpoint's path appear in the profile's DevToolsActivePort file."""
    # A file, not a pipe: nobody reads Chromium's chatter while it runs.
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update",
         "--ignore-certificate-errors", "--remote-debugging-port=0",
         "--user-data-dir=" + profile, "about:blank"],
        stdout=subprocess.DEVNULL, stderr=errors)
    marker = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errors.seek(0)
            raise TestFailure("chromium exited: %s" %
                              errors.read().decode("utf-8", "replace"))
        try:
            with open(marker) as f:
                port, path = f.read().split("\n")[:2]
            if port and path:
                return proc, "ws://127.0.0.1:%s%s" % (port, path)
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.1)
    proc.kill()
    raise TestFailure("chromium wrote no DevToolsActivePort")


class DevTools:
    """Just enough of the DevTools protocol: numbered commands, replies
    matched by id, events ignored."""

    def __init__(self, ws):
        self.ws = ws
        self.next_id = 0

    async def call(self, method, session=None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise TestFailure("%s: %s" % (method, reply["error"]))
                return reply["result"]


async def drive(endpoint, url):
    async with websockets.connect(endpoint, max_size=None) as ws:
        cdp = DevTools(ws)
        target = await cdp.call("Target.createTarget", url="about:blank")
        attached = await cdp.call("Target.attachToTarget",
                                  targetId=target["targetId"], flatten=True)
        session = attached["sessionId"]
        nav = await cdp.call("Page.navigate", session, url=url)
        check("errorText" not in nav, "navigation failed: %r" % nav)
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            res = await cdp.call(
                "Runtime.evaluate", session, returnByValue=True,
                expression="Array.from(document.querySelectorAll("
                           "'#output p'), p => p.textContent)")
            lines = res.get("result", {}).get("value") or []
            if "DISCONNECTED" in lines:
                break
            await asyncio.sleep(0.2)
        res = await cdp.call("Runtime.evaluate", session, returnByValue=True,
                             expression="location.protocol")
        return lines, res["result"]["value"]


def main():
    if len(sys.argv) != 3:
        raise TestFailure(__doc__)
    check(os.access(CHROMIUM, os.X_OK),
          "Chromium not found at %s; run tests/interop/install-deps.sh"
          % CHROMIUM)
    ca = tempfile.mkdtemp(prefix="wsp-tls-")
    profile = tempfile.mkdtemp(prefix="wsp-chromium-")
    browser = None
    try:
        subprocess.run(["bash", sys.argv[2], ca], check=True)
        with EchoServer(sys.argv[1], "--tls-cert",
                        os.path.join(ca, "server.pem"), "--tls-key",
                        os.path.join(ca, "server.key")) as server:
            browser, endpoint = start_chromium(profile)
            url = "https://127.0.0.1:%d/" % server.port
            lines, scheme = asyncio.run(drive(endpoint, url))
            for line in lines:
                log("  " + line)
            check(scheme == "https:", "page loaded over %r" % scheme)
            check(lines == EXPECTED, "page shows %r, expected %r"
                  % (lines, EXPECTED))
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(
                    "outcome=closed close_in=1000" in l
                    for l in server.log_lines):
                time.sleep(0.1)
            check(any("outcome=closed close_in=1000" in l
                      for l in server.log_lines),
                  "server saw no clean wss close: %r" % server.log_lines)
            log("https page, wss echo and close 1000 ok")
    finally:
        if browser:
            browser.kill()
            browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(ca, ignore_errors=True)


main_wrapper(main)
