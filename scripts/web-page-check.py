#!/usr/bin/env python3
"""Opens web/index.html in headless Chromium through chromedriver (the W3C WebDriver protocol,
spoken with the standard library), lets it train, and checks that it finished with a finite
loss, k-NN figures and an attention map. Prints one JSON line (steps/s, loss, adapter) and
saves a screenshot; with --backbone-out, also the file behind the page's download link. With
--own-images, it first writes a folder of PNGs in two sub-folders and one file that is not an
image, chooses that folder in the page's folder picker, checks the page's count of images and
skipped files, and trains on them (k-NN on the held-out images, the map of the features).

    scripts/web-page-check.py [--query 'settings=small-test&steps=3&knn_bank=200']
                              [--screenshot web-page.png] [--timeout 600] [--own-images]
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
import struct
import threading
import time
import urllib.error
import urllib.request
import zlib

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


def png(width, height, pixel):
    """A PNG file's bytes: 8-bit RGB, `pixel(x, y)` an (r, g, b) tuple."""
    rows = b"".join(b"\0" + bytes(c for x in range(width) for c in pixel(x, y)) for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# The test folder: PER_CLASS images in each class sub-folder (of several sizes, not square, so
# the page's centre crop and resize run) and one file that is not an image.
CLASSES = ("rings", "stripes")
PER_CLASS = 5


def write_image_folder(parent):
    root = os.path.join(parent, "my-images")
    for c, name in enumerate(CLASSES):
        os.makedirs(os.path.join(root, name))
        for i in range(PER_CLASS):
            w, h = 40 + 8 * i, 32 + 4 * i
            if c == 0:
                pixel = lambda x, y, i=i: (40, 90 + 30 * i, 220) if ((x - w // 2) ** 2 + (y - h // 2) ** 2) // 40 % 2 else (250, 250, 240)
            else:
                pixel = lambda x, y, i=i: (220, 60 + 30 * i, 40) if (x + i) // 4 % 2 else (20, 20, 20)
            with open(os.path.join(root, name, f"{i:02}.png"), "wb") as f:
                f.write(png(w, h, pixel))
    with open(os.path.join(root, "notes.txt"), "w") as f:
        f.write("not an image: the page must skip and count this file\n")
    return root


def choose_folder(wd, folder, timeout):
    """Gives `folder` to the page's folder picker (as a user choosing it would) and waits until
    the page has decoded it; returns its count line and figures."""
    found = wd.call("POST", wd.s("/element"), {"using": "css selector", "value": "#folder"})
    element = next(iter(found.values()))
    wd.call("POST", wd.s(f"/element/{element}/value"), {"text": folder})
    end = time.time() + timeout
    while time.time() < end:
        own = wd.script("return document.body.dataset.own || null;")
        if own in ("ready", "empty", "error"):
            break
        time.sleep(0.5)
    return wd.script("""
        const c = document.getElementById('own-count');
        return {own: document.body.dataset.own || null, text: c.textContent, count: Number(c.dataset.count),
                skipped: Number(c.dataset.skipped), classes: Number(c.dataset.classes),
                selected: document.getElementById('data-own').checked};""")


def wait_for_state(wd, states, timeout):
    started = time.time()
    state = None
    while time.time() - started < timeout:
        state = wd.script("return document.body.dataset.state;")
        if state in states:
            break
        time.sleep(1)
    return state


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
    ap.add_argument("--own-images", action="store_true",
                    help="train on a folder of PNGs this script writes, chosen in the page's folder picker")
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
    images = tempfile.mkdtemp(prefix="adclr-images-")
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
    problems = []
    try:
        wait_for_port(port, driver_proc)
        wd.start(capabilities)
        autostart = "" if a.own_images else "autostart=1&"
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html?{autostart}{a.query}"
        wd.call("POST", wd.s("/url"), {"url": url})
        started = time.time()
        own = None
        if a.own_images:
            ready = wait_for_state(wd, ("ready", "error"), a.timeout)
            own = choose_folder(wd, write_image_folder(images), a.timeout) if ready == "ready" else {"own": ready}
            want = {"count": len(CLASSES) * PER_CLASS, "skipped": 1, "classes": len(CLASSES), "selected": True}
            got = {k: own.get(k) for k in want}
            if got != want or f"{want['count']} images, 1 skipped (not images)" not in own.get("text", ""):
                problems.append(f"the page read the test folder as {own}, not {want}")
            else:
                wd.script("document.getElementById('start').click();")
        state = wait_for_state(wd, ("done", "error"), a.timeout) if not problems else None
        page = wd.script("""
            const r = document.getElementById('result');
            return {status: document.getElementById('status').textContent,
                    step: document.getElementById('step').textContent,
                    rate: document.getElementById('rate').textContent,
                    knn: document.getElementById('knn').textContent,
                    result: r.textContent, loss: r.dataset.loss || null,
                    stepsPerSecond: r.dataset.stepsPerSecond || null,
                    attentionWidth: document.getElementById('attention').width,
                    trainedOn: document.getElementById('trained-on').textContent,
                    mapPoints: Number(document.getElementById('map').dataset.points || 0),
                    knnPoints: Number(document.getElementById('chart').dataset.knnPoints || 0),
                    mapShown: !document.getElementById('map-figure').hidden};""")
        if a.own_images:
            # Tall enough for the results below the folder's section (the map is last).
            wd.call("POST", wd.s("/window/rect"), {"width": 800, "height": 2300})
        png = wd.call("GET", wd.s("/screenshot"))
        with open(a.screenshot, "wb") as f:
            f.write(base64.b64decode(png))
        page.update(state=state, seconds=round(time.time() - started, 1), url=url, screenshot=a.screenshot)
        if own is not None:
            page.update(ownImages=own)
        if state != "done":
            if not problems:
                problems.append(f"the page ended in state {state!r}: {page['status']}")
        else:
            if page["loss"] is None or not math.isfinite(float(page["loss"])):
                problems.append(f"no finite loss shown: {page['result']!r}")
            if "k-NN top-1" not in page["knn"] and "skipped" not in page["knn"]:
                problems.append(f"no k-NN shown: {page['knn']!r}")
            # With knn_every in the query, the chart drew k-NN during the run as well as at its end.
            query = dict(kv.split("=", 1) for kv in a.query.split("&") if "=" in kv)
            if int(query.get("knn_every", 0) or 0) > 0 and not a.own_images and page["knnPoints"] < 2:
                problems.append(f"k-NN not drawn during the run: {page['knnPoints']} points on the chart")
            if page["attentionWidth"] < 16:
                problems.append("no attention map drawn")
            if a.own_images:
                # 1 of each class's 5 images held out: the map shows all 10, k-NN queries 2.
                if not (page["mapShown"] and page["mapPoints"] == len(CLASSES) * PER_CLASS):
                    problems.append(f"no feature map of the {len(CLASSES) * PER_CLASS} images: {page['mapPoints']} points")
                if "2 of your images held out" not in page["knn"] or "Trained on 8 of your images" not in page["trainedOn"]:
                    problems.append(f"not a run on the test folder: {page['trainedOn']!r} {page['knn']!r}")
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
        shutil.rmtree(images, ignore_errors=True)


if __name__ == "__main__":
    main()
