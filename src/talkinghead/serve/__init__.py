"""`talkinghead serve`: the REST job API (/v1) and the web app (/) over one Engine.

    from talkinghead.serve import ServeSettings, create_app
    app = create_app(ServeSettings(data_dir=Path("jobs"), workers=2))   # any ASGI server runs it

Needs the `serve` extra (FastAPI, uvicorn, Gradio, python-multipart).
"""

from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings, service=None):
    from .app import create_app as make

    return make(settings, service)
