"""The three components of the hybrid and their blend.

Every component has the same small API: ``fit(histories, ...)`` at training time and
``score(history) -> np.ndarray`` (one raw score per catalog item) at serving time, where a
history is a user's item indices in chronological order. They import numpy and the compiled
``kernels`` (the scoring hot path) only.
"""
