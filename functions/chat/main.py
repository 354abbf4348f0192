"""The chat function (not built yet): every API path answers 501 until its issue lands."""

import flask
import functions_framework

from recoengine.errors import NotImplementedYet
from recoengine.web import ApiRequest, HttpApp

app = HttpApp("chat")


@app.route("GET", "/api/v2/{rest:path}")
@app.route("POST", "/api/v2/{rest:path}")
def not_built(req: ApiRequest) -> None:
    raise NotImplementedYet("the chat function is not built yet")


@functions_framework.http
def chat(request: flask.Request) -> flask.Response:
    return app(request)
