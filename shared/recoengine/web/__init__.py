"""HTTP plumbing shared by the functions: routing, validation, errors, logs, metrics, health."""

from recoengine.web.app import ApiRequest, HttpApp, Reply
from recoengine.web.events import EventStream

__all__ = ["ApiRequest", "EventStream", "HttpApp", "Reply"]
