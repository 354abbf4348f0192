"""Data: the in-memory dataset, loaders for the documented formats, and the demo generator."""

from recoengine.data.dataset import Dataset
from recoengine.data.loaders import FORMATS, detect_format, load_dataset, resolve_format

__all__ = ["FORMATS", "Dataset", "detect_format", "load_dataset", "resolve_format"]
