"""The Spark trainer: the item-to-item graphs of CF computed with Apache Spark.

Training's superlinear part is the item graphs (co-occurrence costs the sum over users of
their squared history lengths); everything after them is items x K or linear and runs on the
driver with the local trainer's own code. So Spark enters as a *graph fitter*
(``graphs.SparkGraphFitter``), a drop-in for ``recoengine.models.item_graphs.fit_graphs``:

- ``session``: a local SparkSession for tests and the command line (Dataproc Serverless brings
  its own in the cloud);
- ``graphs``: the fitter, pure Spark DataFrame operations (no Python UDFs, so executors need
  nothing but Spark);
- ``cli``: ``make train|eval ENGINE=spark``;
- ``job``: the Dataproc Serverless entry point.

Training only: pyspark is the ``spark`` extra and never enters a serving image.
"""
