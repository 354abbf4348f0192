"""The reference for HTTP benchmarks: a bare functions-framework function returning small JSON."""

import flask
import functions_framework


@functions_framework.http
def bare(request: flask.Request) -> flask.Response:
    return flask.jsonify(items=[], status="ok")
