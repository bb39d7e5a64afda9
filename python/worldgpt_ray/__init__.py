"""worldgpt-ray: one Ray task per shard of a `worldgpt` run, retried on failure, merged at the end.

The Swift binary does the work (`worldgpt rollout|samples build|eval --ablation --shard I/N`); this package only
schedules it (docs/scale.md). `worldgpt_ray.dataset` reads packed sample shards without Ray.
"""

__version__ = "0.1.0"
