"""Data: the in-memory dataset, loaders for the documented formats, and the demo generator."""

from recoengine.data.dataset import Dataset
from recoengine.data.loaders import load_dataset

__all__ = ["Dataset", "load_dataset"]
