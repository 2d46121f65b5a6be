"""The live page in a real headless browser (Debian's chromium, driven by Playwright): it
connects, receives frames and sound, and shows the face; over WebRTC and the WebSocket fallback."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from live_server import running
from media import PORTRAIT, SPEECH

from talkinghead.config import LiveConfig, LiveServerConfig
from talkinghead.live.server import LiveApp, create_app, webrtc_available

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="the browser test needs Playwright (pip install playwright; the browser is Debian's chromium)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine: `apt-get install -y chromium` (make test does it as root)")
BROWSER_ARGS = [
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",  # a fake microphone for the Microphone button
    "--disable-features=WebRtcHideLocalIpsWithMdns",  # plain 127.0.0.1 candidates for aiortc
    "--no-sandbox",
]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, timeout=30_000)
        yield browser
        browser.close()


def _looks_like_the_portrait(png: bytes) -> float:
    """Correlation of a screenshot of the stage with the portrait, both grey at 128²."""
    from PIL import Image

    shot = np.asarray(Image.open(io.BytesIO(png)).convert("L").resize((128, 128)), np.float64)
    photo = np.asarray(Image.open(PORTRAIT).convert("L").resize((128, 128)), np.float64)
    return float(np.corrcoef(shot.ravel(), photo.ravel())[0, 1])


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
def test_the_page_plays_the_avatar_with_its_sound(engine, browser, transport):
    if transport == "webrtc" and not webrtc_available():
        pytest.skip("aiortc is not installed (pip install 'talkinghead[live]')")
    app = create_app(LiveApp(PORTRAIT, {}, LiveConfig(), LiveServerConfig(transport=transport, session_timeout=5)), engine=engine)
    with running(app, within=90) as url:
        page = browser.new_page(viewport={"width": 700, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/", timeout=20_000)
        page.click("#start")
        page.wait_for_function("window.liveStats.frames >= 25 && window.liveStats.audioSamples > 0", timeout=30_000)
        page.set_input_files("#file", str(SPEECH))
        page.wait_for_function("document.getElementById('status').textContent.startsWith('Playing')", timeout=20_000)
        before = page.evaluate("window.liveStats")
        page.wait_for_timeout(1500)
        after = page.evaluate("window.liveStats")
        assert after["transport"] == transport and not after["errors"] and not errors
        assert after["frames"] - before["frames"] >= 20  # ~25 a second keep coming
        assert after["audioSamples"] > before["audioSamples"]
        stage = page.locator("#video" if transport == "webrtc" else "#canvas")
        assert _looks_like_the_portrait(stage.screenshot()) > 0.8
        page.click("#mic")  # the fake microphone goes in; the page goes on
        page.wait_for_timeout(500)
        page.click("#interrupt")
        page.click("#stop")
        page.wait_for_function("document.getElementById('status').textContent === 'Stopped.'", timeout=10_000)
        assert app.state.sessions.all() == [] or all(h.session.closed for h in app.state.sessions.all())
        page.close()
