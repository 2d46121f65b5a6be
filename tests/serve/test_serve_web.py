"""The web app in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright)
uploads the bundled sample, sets options in the generated panel, renders through the job queue,
and the video plays. The screenshot is kept in out/test-artifacts/web-app.png."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import httpx
import pytest
from conftest import Server
from media import PORTRAIT, ROOT, SPEECH

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = ROOT / "out" / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("gradio") is None, reason="the web app needs gradio: pip install 'talkinghead[serve]'"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="the browser test needs playwright: pip install 'talkinghead[serve]'"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no chromium: `apt-get install chromium` (make test does it as root)"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("web") / "data", "--workers", "1", web=True)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        yield browser
        browser.close()


def test_the_options_panel_is_the_config_tree():
    from talkinghead.config import DubConfig, flag_of, group_names, option_fields
    from talkinghead.serve.settings import ServeSettings
    from talkinghead.serve.web import option_widget, web_fields

    import gradio as gr

    names = {f.name for f in web_fields()}
    assert names == {f.name for f in option_fields()} - {"motion_file", "frames_dir", "weights"} - group_names(DubConfig)
    assert {f.name for f in web_fields("dub")} == {"lip_weight", "transcript", "face_index", "crf", "max_duration", "score", "loop", "keep_original_audio"}
    settings = ServeSettings()
    with gr.Blocks():
        widgets = {f.name: option_widget(f, settings) for f in web_fields()}
    assert isinstance(widgets["lip_weight"], gr.Slider) and (widgets["lip_weight"].minimum, widgets["lip_weight"].maximum) == (0, 2)
    assert isinstance(widgets["emotion"], gr.Dropdown) and "happy" in [c[0] for c in widgets["emotion"].choices]
    assert isinstance(widgets["gaze"], gr.Dropdown) and isinstance(widgets["score"], gr.Checkbox)
    assert isinstance(widgets["seed"], gr.Number) and isinstance(widgets["size"], gr.Textbox) and widgets["size"].value == ""
    assert isinstance(widgets["transcript"], gr.Textbox)
    assert widgets["max_duration"].maximum == settings.max_duration
    for f in web_fields():  # the CLI's flag and help text, word for word
        assert widgets[f.name].label == flag_of(f).removeprefix("--no-") and widgets[f.name].info.startswith(f.metadata["help"])


def test_the_browser_renders_the_bundled_sample_and_plays_it(server, browser):
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/", timeout=60_000)
    page.wait_for_selector("#th-run", timeout=60_000)
    # Upload the sample: the photo, then the speech.
    page.locator("#th-image input[type=file]").set_input_files(str(PORTRAIT))
    page.locator("#th-audio input[type=file]").set_input_files(str(SPEECH))
    page.wait_for_selector("#th-image img", timeout=30_000)
    page.wait_for_selector("#th-audio audio, #th-audio [data-testid=waveform-speech], #th-audio .waveform-container", state="attached", timeout=30_000)
    # Options, from the generated panel: a small crop keeps the render short.
    page.locator("#th-options").get_by_text("options").first.click()
    size = page.get_by_label("--size")
    size.fill("128")
    size.press("Tab")
    page.locator("#th-run").click()
    page.wait_for_selector("#th-progress[data-state=running], #th-progress[data-state=done]", timeout=60_000)
    page.wait_for_selector("#th-progress[data-state=done]", timeout=120_000)
    video = page.locator("#th-video video")
    video.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#th-video video'); if (v && v.paused) v.play(); return v && v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=30_000,
    )
    size_px = page.evaluate("() => { const v = document.querySelector('#th-video video'); return [v.videoWidth, v.videoHeight, v.duration]; }")
    assert size_px[:2] == [128, 128] and abs(size_px[2] - 10.7) < 0.3
    assert "lip sync: offset" in page.locator("#th-score textarea").input_value()
    page.wait_for_selector("#th-plot img", timeout=30_000)
    assert page.locator("#th-download a").count() >= 1
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "web-app.png"), full_page=True)
    assert not errors, errors
    # The web app's job went through the same queue as the API's.
    jobs = httpx.get(server.url + "/v1/jobs", timeout=30).json()["jobs"]
    assert [(j["state"], j["options"]["size"]) for j in jobs] == [("done", 128)]
    page.close()


def test_the_bundled_example_is_one_click_away(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/", timeout=60_000)
    page.wait_for_selector("#th-run", timeout=60_000)
    page.locator("#th-example td").first.click()
    page.wait_for_selector("#th-image img", timeout=30_000)
    page.wait_for_selector("#th-audio audio, #th-audio .waveform-container", state="attached", timeout=30_000)
    page.close()


def test_the_cancel_button_cancels_the_job(server, browser):
    page = browser.new_page()
    page.goto(server.url + "/", timeout=60_000)
    page.wait_for_selector("#th-run", timeout=60_000)
    page.locator("#th-example td").first.click()  # 10.7 s of speech at the photo's 512 x 512: seconds of work
    page.wait_for_selector("#th-image img", timeout=30_000)
    page.locator("#th-run").click()
    page.wait_for_selector("#th-progress[data-state=running]", timeout=60_000)
    page.locator("#th-cancel").click()
    page.wait_for_selector("#th-progress[data-state=cancelled]", timeout=10_000)
    assert "cancelled" in page.locator("#th-progress").inner_text()
    jobs = httpx.get(server.url + "/v1/jobs", timeout=30).json()["jobs"]
    assert jobs[0]["state"] == "cancelled" and jobs[0]["options"].get("size") is None
    page.close()


def test_the_dub_tab_dubs_a_video(server, browser, tmp_path):
    from video_media import known_motion, rendered_frames, tone, write_clip

    clip = write_clip(tmp_path / "clip.mp4", rendered_frames(known_motion(25, jaw_period_s=0.48)), audio=tone(1.0), crf=18)
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(server.url + "/", timeout=60_000)
    page.get_by_role("tab", name="Dub a video").click()
    page.locator("#th-dub-source input[type=file]").set_input_files(str(clip))
    page.locator("#th-dub-audio input[type=file]").set_input_files(str(SPEECH))
    page.wait_for_selector("#th-dub-source video", timeout=30_000)
    page.wait_for_selector("#th-dub-audio audio, #th-dub-audio .waveform-container", state="attached", timeout=30_000)
    page.locator("#th-dub-run").click()
    page.wait_for_selector("#th-dub-progress[data-state=done]", timeout=120_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#th-dub-video video'); if (v && v.paused) v.play(); return v && v.readyState >= 2 && v.currentTime > 0.5; }",
        timeout=30_000,
    )
    size_px = page.evaluate("() => { const v = document.querySelector('#th-dub-video video'); return [v.videoWidth, v.videoHeight, v.duration]; }")
    assert size_px[:2] == [256, 256] and abs(size_px[2] - 10.7) < 0.3  # as long as the speech: the clip plays to and fro
    assert "lip sync: offset" in page.locator("#th-dub-score textarea").input_value()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / "web-app-dub.png"), full_page=True)
    jobs = httpx.get(server.url + "/v1/jobs", timeout=30).json()["jobs"]
    assert (jobs[0]["kind"], jobs[0]["state"]) == ("dub", "done")
    page.close()


def test_cors_is_off_without_an_origin_the_web_apps_routes_included(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for path in ("/v1/health", "/config", "/gradio_api/info"):
            for origin in ("http://localhost:3000", "http://elsewhere.example"):
                answer = client.get(path, headers={"Origin": origin})
                assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers, (path, origin)
