"""The three components of the hybrid, the item graphs of CF, and their blend.

Training fits each component from a data set (``fit``; the item graphs in ``item_graphs``, which
imports scipy). At serving a request is scored in two stages (``hybrid``): CF gathers the
candidates (neighbours of the user's recent items in the graphs, plus popular and filter
items), then each component scores only those candidates. The serving side imports numpy and
the compiled ``kernels`` (the scoring hot path) only.
"""
