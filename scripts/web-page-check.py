#!/usr/bin/env python3
"""Opens web/index.html in headless Chromium through chromedriver (the W3C WebDriver protocol,
spoken with the standard library), lets it train, and checks that it finished with a finite
loss, k-NN figures and an attention map. Prints one JSON line (steps/s, loss, adapter) and
saves a screenshot; with --backbone-out, also the file behind the page's download link.

    scripts/web-page-check.py [--query 'settings=small-test&steps=3&knn_bank=200']
                              [--screenshot web-page.png] [--timeout 600]
                              [--browser chromium | firefox]

Needs web/pkg (scripts/web-build.sh) and chromium with chromedriver (Debian: chromium,
chromium-driver), or firefox-esr with geckodriver (`cargo install geckodriver`): Firefox's
WebGPU on Mesa's lavapipe, with the prefs dom.webgpu.enabled and gfx.webgpu.ignore-blocklist."""

import argparse
import base64
import functools
import http.server
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web")

# Headless WebGPU on SwiftShader, as root, on a machine without network or GPU.
CHROME_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--enable-features=Vulkan",
    "--use-webgpu-adapter=swiftshader",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=800,1500",
]


# Firefox's WebGPU (on Mesa's lavapipe where there is no GPU).
FIREFOX_PREFS = {"dom.webgpu.enabled": True, "gfx.webgpu.ignore-blocklist": True}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(directory):
    """A static server on a free port of 127.0.0.1, in a daemon thread (wasm as application/wasm)."""
    handler = functools.partial(QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".wasm": "application/wasm", ".js": "text/javascript"}

    def log_message(self, *args):
        pass


class WebDriver:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.session = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"webdriver {method} {path}: {e.code} {e.read().decode(errors='replace')[:2000]}")

    def start(self, capabilities):
        self.session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})["sessionId"]

    def s(self, path):
        return f"/session/{self.session}{path}"

    def script(self, source):
        return self.call("POST", self.s("/execute/sync"), {"script": source, "args": []})


def wait_for_port(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the WebDriver server exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the WebDriver server did not start listening")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--query", default="settings=small-test&steps=3&knn_bank=200")
    ap.add_argument("--screenshot", default="web-page.png")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--backbone-out", help="save the page's download link (the trained teacher backbone) here")
    ap.add_argument("--browser", choices=["chromium", "firefox"], default="chromium")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--chromedriver", default=os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver")
    ap.add_argument("--firefox", default=shutil.which("firefox-esr") or shutil.which("firefox") or "/usr/bin/firefox-esr")
    ap.add_argument("--geckodriver", default=os.environ.get("GECKODRIVER") or shutil.which("geckodriver") or "geckodriver")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(WEB, "pkg", "adclr_web.js")):
        sys.exit("web/pkg/adclr_web.js is missing: build it first with scripts/web-build.sh")

    server = serve(WEB)
    port = free_port()
    profile = tempfile.mkdtemp(prefix="adclr-chromium-")
    if a.browser == "chromium":
        driver = [a.chromedriver, f"--port={port}"]
        capabilities = {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": a.chromium, "args": CHROME_ARGS + [f"--user-data-dir={profile}"]}}
    else:
        driver = [a.geckodriver, f"--port={port}"]
        capabilities = {
            "browserName": "firefox",
            "moz:firefoxOptions": {"binary": a.firefox, "args": ["-headless", "-width", "800", "-height", "1500"],
                                   "prefs": FIREFOX_PREFS}}
    driver_proc = subprocess.Popen(driver, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wd = WebDriver(port)
    try:
        wait_for_port(port, driver_proc)
        wd.start(capabilities)
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html?autostart=1&{a.query}"
        wd.call("POST", wd.s("/url"), {"url": url})
        started = time.time()
        state = None
        while time.time() - started < a.timeout:
            state = wd.script("return document.body.dataset.state;")
            if state in ("done", "error"):
                break
            time.sleep(1)
        page = wd.script("""
            const r = document.getElementById('result');
            return {status: document.getElementById('status').textContent,
                    step: document.getElementById('step').textContent,
                    rate: document.getElementById('rate').textContent,
                    knn: document.getElementById('knn').textContent,
                    result: r.textContent, loss: r.dataset.loss || null,
                    stepsPerSecond: r.dataset.stepsPerSecond || null,
                    attentionWidth: document.getElementById('attention').width};""")
        png = wd.call("GET", wd.s("/screenshot"))
        with open(a.screenshot, "wb") as f:
            f.write(base64.b64decode(png))
        page.update(state=state, seconds=round(time.time() - started, 1), url=url, screenshot=a.screenshot)
        problems = []
        if state != "done":
            problems.append(f"the page ended in state {state!r}: {page['status']}")
        else:
            if page["loss"] is None or not math.isfinite(float(page["loss"])):
                problems.append(f"no finite loss shown: {page['result']!r}")
            if "k-NN top-1" not in page["knn"] and "skipped" not in page["knn"]:
                problems.append(f"no k-NN shown: {page['knn']!r}")
            if page["attentionWidth"] < 16:
                problems.append("no attention map drawn")
            if a.backbone_out:
                # The bytes behind the page's download link, read in the page (as a user's click
                # would save them).
                got = wd.call("POST", wd.s("/execute/async"), {"args": [], "script": """
                    const done = arguments[arguments.length - 1];
                    const link = document.getElementById('download');
                    if (!link.href || link.hidden) { done({error: 'no download link'}); return; }
                    fetch(link.href).then((r) => r.arrayBuffer()).then((buf) => {
                        const u = new Uint8Array(buf);
                        let s = '';
                        for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
                        done({name: link.download, text: link.textContent, data: btoa(s)});
                    }).catch((e) => done({error: String(e)}));"""})
                if not got or "error" in got:
                    problems.append(f"no backbone to download: {got and got.get('error')}")
                else:
                    with open(a.backbone_out, "wb") as f:
                        f.write(base64.b64decode(got["data"]))
                    page.update(download=got["name"], downloadText=got["text"], backboneOut=a.backbone_out)
        print(json.dumps(page))
        if problems:
            try:
                for entry in wd.call("POST", wd.s("/se/log"), {"type": "browser"}) or []:
                    print("console:", entry.get("level"), entry.get("message"), file=sys.stderr)
            except RuntimeError as e:
                print(f"(no console log: {e})", file=sys.stderr)
            sys.exit("web page check failed: " + "; ".join(problems))
    finally:
        if wd.session:
            try:
                wd.call("DELETE", wd.s(""))
            except Exception:
                pass
        driver_proc.terminate()
        driver_proc.wait(timeout=10)
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
