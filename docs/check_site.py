"""Open the built site in headless Chromium: pages load, images load, math renders.

    mkdocs build --strict && python docs/check_site.py [--screenshots docs/screenshots]

Serves ``site/`` on a local port, opens one page of each kind (home, a notebook, an API
page, a results page; more with ``--page``) through the Chrome DevTools protocol, waits
for MathJax, and fails (exit status 1) if a page has an image that did not load, a
formula that MathJax could not typeset (``mjx-merror``), Markdown math left untypeset, or
no math at all where math is expected. With ``--screenshots DIR`` it saves a small PNG of
the top of each page (the references in docs/screenshots/ were made so).

Needs Chromium (Debian: ``apt-get install chromium``) and tornado (installed with Jupyter).
"""

import argparse
import asyncio
import base64
import functools
import http.server
import io
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (name of the screenshot, path in the site, whether the page must contain math,
#  whether the screenshot shows the first figure rather than the top of the page)
PAGES = [
    ("home", "", False, False),
    ("notebook", "notebooks/03_lyapunov_spectra_by_qr/", True, True),
    ("api", "api/lyapunov/", True, False),
    ("results", "results/tau_sweep/", False, True),
]

CHECK_JS = """
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
    await MathJax.typesetPromise();
  }
  const imgs = Array.from(document.querySelectorAll("article img"));
  await Promise.all(imgs.map(
      i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const raw = Array.from(document.querySelectorAll(".arithmatex"))
      .filter(e => !e.querySelector("mjx-container")).map(e => e.textContent.slice(0, 60));
  return JSON.stringify({
    title: document.title,
    images: imgs.map(i => ({src: i.getAttribute("src").slice(0, 80), width: i.naturalWidth})),
    math: document.querySelectorAll("mjx-container").length,
    errors: Array.from(document.querySelectorAll("mjx-merror"))
        .map(e => e.textContent.slice(0, 80)),
    untypeset: raw,
  });
})()
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


async def _cdp(ws_url, pages, base, screenshots):
    from tornado.websocket import websocket_connect

    ws = await websocket_connect(ws_url, max_message_size=64 * 2**20)
    counter = 0

    async def call(method, **params):
        nonlocal counter
        counter += 1
        ws.write_message(json.dumps({"id": counter, "method": method, "params": params}))
        while True:
            msg = json.loads(await ws.read_message())
            if msg.get("id") == counter:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    await call("Page.enable")
    await call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
               deviceScaleFactor=1, mobile=False)
    reports = []
    for name, path, needs_math, at_figure in pages:
        await call("Page.navigate", url=base + path)
        await asyncio.sleep(0.5)
        for _ in range(100):  # wait for the document (and its scripts) to load
            state = await call("Runtime.evaluate", expression="document.readyState")
            if state["result"]["value"] == "complete":
                break
            await asyncio.sleep(0.2)
        result = await call("Runtime.evaluate", expression=CHECK_JS, awaitPromise=True,
                            returnByValue=True)
        report = json.loads(result["result"]["value"])
        report.update(name=name, path=path, needs_math=needs_math)
        reports.append(report)
        if screenshots is not None:
            scroll = ("(document.querySelector('article img') || document.body)"
                      ".scrollIntoView({block: 'center'})") if at_figure else "scrollTo(0, 0)"
            await call("Runtime.evaluate", expression=scroll)
            await asyncio.sleep(0.3)
            shot = await call("Page.captureScreenshot", format="png")
            _save_small_png(base64.b64decode(shot["data"]), screenshots / f"{name}.png")
    ws.close()
    return reports


def _save_small_png(data, path):
    """Half size and a 64-colour palette: a reference, not an archive (~50-100 kB)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB")
    img = img.resize((img.width // 2, img.height // 2), Image.LANCZOS)
    img = img.quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)


def _problems(report):
    out = [f"image did not load: {i['src']}" for i in report["images"] if i["width"] == 0]
    out += [f"MathJax error: {e}" for e in report["errors"]]
    out += [f"math left untypeset: {t}" for t in report["untypeset"]]
    if report["needs_math"] and report["math"] == 0:
        out.append("no typeset math on a page that has formulas")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "site")
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--page", action="append", default=[],
                        help="another page to check (path in the site, e.g. api/bptt/)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    pages = PAGES + [(p.strip("/").replace("/", "_"), p, False, True) for p in args.page]

    handler = functools.partial(_Quiet, directory=str(args.site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    profile = tempfile.mkdtemp(prefix="refrnn-chromium-")
    browser = subprocess.Popen(
        [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        for _ in range(150):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.2)
        port = port_file.read_text().split()[0]
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json").read())
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        reports = asyncio.run(_cdp(ws_url, pages, base, args.screenshots))
    finally:
        browser.terminate()
        browser.wait(timeout=20)
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)

    failed = False
    for r in reports:
        problems = _problems(r)
        failed |= bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} /{r['path']:45s} {len(r['images'])} images, "
              f"{r['math']} formulas  ({r['title']})")
        for p in problems:
            print("      ", p)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
