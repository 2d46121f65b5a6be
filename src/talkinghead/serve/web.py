"""The web app (Gradio), mounted at / of the same server, submitting through the same job queue
as the API: a tab to animate a photo, a tab to dub a video. Their option panels are generated
from the config tree, as the CLI's flags are: a new option appears here by itself, with the
CLI's help text, bounds and choices.
"""


import dataclasses
import html
import os
from pathlib import Path
from typing import Any, Callable

from ..config import DubConfig, flag_of, group_names, option_fields
from ..errors import InputError
from .options import DUB_JOB_OPTIONS, SERVER_PATH_OPTIONS, OptionError, parse_options
from .service import JobService, Refused
from .settings import ServeSettings
from .uploads import UploadRefused, take_files

ASSETS = Path(__file__).resolve().parents[3] / "assets"  # the bundled sample, in a source checkout
POLL = 0.25  # s between progress updates in the page
INTEGER_SLIDER_SPAN = 100  # integer options with a smaller range get a slider, others a number box


def web_fields(kind: str = "animate") -> list[dataclasses.Field]:
    """The options a tab offers: every option of `animate` (or of `dub`, with `kind` "dub") but
    those naming server files."""
    offered = DUB_JOB_OPTIONS if kind == "dub" else {f.name for f in option_fields()} - group_names(DubConfig)
    return [f for f in option_fields() if f.name in offered and f.name not in SERVER_PATH_OPTIONS]


def option_widget(f: dataclasses.Field, settings: ServeSettings):
    """The Gradio input for one config field: a slider for bounded numbers, a dropdown for
    choices, a checkbox for switches, a box for the rest; label = the CLI flag, info = its help."""
    import gradio as gr

    kind = str(f.type).split(" |")[0]
    label, info = flag_of(f), f.metadata["help"]
    bounds, choices = f.metadata.get("bounds"), f.metadata.get("choices")
    if f.name == "max_duration":
        bounds = (bounds[0], settings.max_duration)
        default = min(f.default, settings.max_duration)
    else:
        default = f.default
    if f.name == "backend":
        from ..render.base import renderer_names

        choices = tuple(renderer_names())
    if choices:
        return gr.Dropdown(choices=list(choices), value=default, label=label, info=info)
    if kind == "bool":
        return gr.Checkbox(value=default, label=label.removeprefix("--no-"), info=info)
    if kind in ("int", "float") and bounds is not None and default is not None:
        integer = kind == "int"
        if not integer or bounds[1] - bounds[0] <= INTEGER_SLIDER_SPAN:
            step = 1 if integer else (0.05 if bounds[1] - bounds[0] <= 5 else 0.5)
            return gr.Slider(minimum=bounds[0], maximum=bounds[1], value=default, step=step, label=label, info=info)
    if kind in ("int", "float") and default is not None:
        low, high = bounds if bounds else (None, None)
        return gr.Number(value=default, minimum=low, maximum=high, precision=0 if kind == "int" else None, label=label, info=info)
    if kind in ("int", "float"):  # optional numbers: a box left empty is off (a number box would send 0)
        return gr.Textbox(value="", label=label, info=info + " (empty: off)", placeholder="off")
    return gr.Textbox(value=default or "", label=label, info=info, lines=2 if f.name == "transcript" else 1)


def widget_options(fields: list[dataclasses.Field], values: tuple) -> dict[str, Any]:
    """The page's values as job options: only those changed from their defaults."""
    options: dict[str, Any] = {}
    for f, value in zip(fields, values):
        kind = str(f.type).split(" |")[0]
        if isinstance(value, str) and not value.strip():
            value = None
        elif isinstance(value, str) and kind in ("int", "float"):
            try:
                value = float(value)
            except ValueError:
                raise OptionError(f.name, f"{flag_of(f)} {value!r} is not a number") from None
        if kind == "int" and value is not None and float(value).is_integer():
            value = int(value)
        if kind == "float" and value is not None:
            value = float(value)
        if value != f.default:
            options[f.name] = value
    return options


def progress_html(view: dict[str, Any] | None, note: str = "", *, element: str) -> str:
    """A progress bar with the job's state, percentage, ETA and place in the queue, as the element `element`."""
    if view is None:
        return f'<div id="{element}" data-state="idle">{html.escape(note)}</div>'
    state, share = view["state"], view["progress"]
    words = {"queued": f"waiting, number {view['position']} in the queue", "running": "rendering", "done": "done",
             "failed": "failed", "cancelled": "cancelled"}[state]
    eta = view.get("eta_seconds")
    eta_text = f" · about {eta:.0f} s left" if eta and state in ("queued", "running") else ""
    detail = f": {view['error']}" if state == "failed" and view.get("error") else ""
    return (
        f'<div id="{element}" data-state="{state}">'
        f'<progress max="1" value="{share:.3f}" style="width:100%;height:1.2em"></progress>'
        f"<div>{int(share * 100)} % · {html.escape(words + detail)}{eta_text}</div></div>"
    )


def build_blocks(jobs: Callable[[], JobService], settings: ServeSettings):
    import gradio as gr

    session_jobs: dict[str, str] = {}  # Gradio session -> its job running now, for the cancel button

    def run_job(kind: str, face: str | None, audio: str | None, fields: list, values: tuple, element: str, request: gr.Request):
        """Submit a job and follow it: yields (progress as the element `element`, video, download, score, plot) as it goes."""
        service = jobs()
        client = request.client.host if request.client else "unknown"
        if not face or not audio:
            raise gr.Error("give a video and a speech recording" if kind == "dub" else "give a photo and a speech recording (or click the example below)")
        try:
            options, _ = parse_options(widget_options(fields, values), max_duration=settings.max_duration, kind=kind)
            service.admit(client)
            job_id = service.new_job_id()
            try:
                intake = take_files(Path(face), Path(audio), service.files(job_id), service.limits, kind=kind)
                job = service.submit(job_id, intake, options, client)
            except BaseException:
                service.store.delete_files(job_id)
                raise
        except (OptionError, UploadRefused, Refused, InputError) as refused:
            raise gr.Error(getattr(refused, "reason", str(refused))) from None
        session_jobs[request.session_hash] = job.id
        try:
            while not job.ended.wait(POLL):
                yield progress_html(service.view(job), element=element), None, None, "", None
            view = service.view(job)
            if job.state != "done":
                yield progress_html(view, element=element), None, None, view["error"] or job.state, None
                return
            folder = service.files(job.id)
            result = view["result"]
            note = result["score_note"] or ("dubbed" if kind == "dub" else "rendered")
            plot = folder / "plot.png"
            yield (progress_html(view, element=element), str(folder / "video.mp4"), str(folder / "video.mp4"), note,
                   str(plot) if plot.exists() else None)
        finally:
            session_jobs.pop(request.session_hash, None)

    def cancel(element: str, request: gr.Request):
        job_id = session_jobs.pop(request.session_hash, None)
        job = jobs().cancel(job_id) if job_id is not None else None
        return progress_html(jobs().view(job), element=element) if job is not None else progress_html(None, "nothing to cancel", element=element)

    def job_panel(kind: str, face_box, audio_box, ids: str, run_label: str) -> None:
        """The options, the run and cancel buttons and the result of one tab; `ids` prefixes its elements' ids."""
        fields = web_fields(kind)
        with gr.Accordion(f"options (the same as `talkinghead {kind}`)", open=False, elem_id=f"{ids}options"):
            widgets = [option_widget(f, settings) for f in fields]
        with gr.Row():
            run = gr.Button(run_label, variant="primary", elem_id=f"{ids}run")
            stop = gr.Button("Cancel", variant="stop", elem_id=f"{ids}cancel")
        element = f"{ids}progress"
        progress = gr.HTML(progress_html(None, element=element), elem_id=f"{ids}progress-box")
        with gr.Row():
            video = gr.Video(label="video", elem_id=f"{ids}video", autoplay=True, interactive=False, buttons=["download"])
            with gr.Column():
                download = gr.File(label="download", elem_id=f"{ids}download", interactive=False)
                score = gr.Textbox(label="lip-sync score", elem_id=f"{ids}score", interactive=False)
        plot = gr.Image(label="mouth opening vs speech loudness", elem_id=f"{ids}plot", type="filepath", interactive=False)

        def submit(data: dict, request: gr.Request):
            yield from run_job(kind, data[face_box], data[audio_box], fields, tuple(data[w] for w in widgets), element, request)

        def stop_job(request: gr.Request):
            return cancel(element, request)

        event = run.click(submit, inputs={face_box, audio_box, *widgets}, outputs=[progress, video, download, score, plot])
        stop.click(stop_job, outputs=[progress], cancels=[event])

    with gr.Blocks(title="talkinghead", delete_cache=(max(60, int(settings.keep_seconds / 4)), max(60, int(settings.keep_seconds)))) as blocks:
        gr.Markdown("# talkinghead\nA portrait photo and a speech recording make a talking-head video; a video and new "
                    "speech make the video's person say it. The same jobs are served by the REST API at [/v1](/docs).")
        with gr.Tab("Animate a photo", elem_id="th-tab-animate"):
            with gr.Row():
                image_box = gr.Image(sources=["upload", "webcam"], type="filepath", label="photo", elem_id="th-image", height=320)
                audio_box = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech", elem_id="th-audio")
            if (ASSETS / "portrait.png").exists() and (ASSETS / "speech.wav").exists():
                gr.Examples([[str(ASSETS / "portrait.png"), str(ASSETS / "speech.wav")]], inputs=[image_box, audio_box],
                            label="example: the bundled portrait and speech", elem_id="th-example")
            job_panel("animate", image_box, audio_box, "th-", "Animate")
        with gr.Tab("Dub a video", elem_id="th-tab-dub"):
            with gr.Row():
                dub_video = gr.Video(sources=["upload", "webcam"], label="video (its person will say the speech)", elem_id="th-dub-source", height=320)
                dub_audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="new speech", elem_id="th-dub-audio")
            job_panel("dub", dub_video, dub_audio, "th-dub-", "Dub")
    blocks.queue(default_concurrency_limit=settings.workers + settings.max_queue + 1)
    return blocks


def mount_web_app(app, jobs: Callable[[], JobService], settings: ServeSettings) -> None:
    """Mount the web app at / of `app` (after the API's routes, which it must not shadow)."""
    web_dir = Path(settings.data_dir) / "web"
    web_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine
    os.environ["GRADIO_TEMP_DIR"] = str(web_dir)  # the web app's uploads and copies, beside the jobs
    try:
        import gradio as gr
    except ImportError:
        raise InputError("the web app needs Gradio: pip install 'talkinghead[serve]', or serve the API alone with --no-web") from None

    allowed = [str(Path(settings.data_dir).resolve() / "jobs")] + ([str(ASSETS)] if ASSETS.exists() else [])
    gr.mount_gradio_app(app, build_blocks(jobs, settings), path="/", allowed_paths=allowed, ssr_mode=False,
                        max_file_size=settings.max_upload_bytes, footer_links=["api"])
