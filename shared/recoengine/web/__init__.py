"""HTTP plumbing shared by the functions: routing, validation, errors, logs, metrics, health."""

from recoengine.web.app import ApiRequest, HttpApp, Reply

__all__ = ["ApiRequest", "HttpApp", "Reply"]
