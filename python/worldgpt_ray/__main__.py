"""`python -m worldgpt_ray rollout|samples|eval --shards N --out DIR [--worldgpt BIN] -- WORLDGPT-ARGS…`"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from .driver import KINDS, run


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    parser = argparse.ArgumentParser(
        prog="python -m worldgpt_ray",
        description="Run a worldgpt rollout, sample build or ablation as N Ray tasks (one shard each), retry failed "
                    "shards (they resume from their own stores) and merge the results. Arguments after `--` go to "
                    "worldgpt (without --shard, --db, --trace, --out or --report-dir: the driver sets those).")
    parser.add_argument("kind", choices=KINDS, help="rollout (worldgpt rollout), samples (samples build) or eval (eval --ablation)")
    parser.add_argument("--shards", type=int, required=True, help="number of shards (Ray tasks)")
    parser.add_argument("--out", required=True, help="output folder: shard outputs and the merged result (shared by all nodes)")
    parser.add_argument("--worldgpt", default=shutil.which("worldgpt") or ".build/release/worldgpt",
                        help="the worldgpt binary, at the same path on every node (default: worldgpt on PATH, else .build/release/worldgpt)")
    parser.add_argument("--retries", type=int, default=3, help="retries per shard after a failure or a lost worker")
    options = parser.parse_args(argv)
    for flag in ("--shard", "--db", "--trace", "--out", "--report-dir"):
        if flag in passthrough:
            parser.error(f"{flag} is set by the driver per shard; leave it out of the worldgpt arguments")
    try:
        result = run(options.kind, options.shards, Path(options.out), options.worldgpt, passthrough, retries=options.retries)
    except (RuntimeError, FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"worldgpt-ray: error: {error}", file=sys.stderr)
        return 1
    for shard in result.shards:
        print(f"shard {shard['shard']}/{options.shards}: attempt {shard['attempt']}, {shard['seconds']:.1f} s: {shard['summary']}")
    print(result.merge_output.strip())
    print(f"total {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
