"""Packed sample shards read through the Dataset (numpy standing in for torch): every sample's per-modality state0,
state1, context and history rows equal the SimWorld's own embedding files (read with scripts/pt_reference_reader.py,
an independent .pt reader), masks say which modalities exist, and the packed arrays equal the per-sample files.
Sharded packed builds merge into the unsharded folder byte for byte."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

from worldgpt_ray.dataset import PackedSamples, PackedSamplesError, read_safetensors  # noqa: E402

BINARY = os.environ.get("WORLDGPT_BIN", str(ROOT / ".build" / "debug" / "worldgpt"))
ENCODER = ["--text-encoder", "hashed", "--action-cache", "none"]


def worldgpt(*args: str) -> str:
    r = subprocess.run([BINARY, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"worldgpt {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r.stdout


def source_embedding(world: Path, modality: str, file_name: str) -> np.ndarray:
    """The SimWorld's own embedding of a media file, read by the independent reference reader."""
    pt = world / modality / "Train_pt" / (file_name.rsplit(".", 1)[0] + ".pt")
    out = subprocess.run([sys.executable, str(ROOT / "scripts/pt_reference_reader.py"), str(pt)], capture_output=True, text=True, check=True)
    return np.array(json.loads(out.stdout)["values"], dtype=np.float32)


class PackedDatasetTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(BINARY, os.X_OK):
            raise AssertionError(f"{BINARY} is missing: run `swift build` first (make test-scale does)")
        cls.tmp = Path(tempfile.mkdtemp(prefix="worldgpt-packed-"))
        (cls.tmp / "world.yaml").write_text("scenarios: 2\nepisodes: 30\nsteps: 7\nseed: 3\ndimension: 32\nhidden: 16\n"
                                            "modalities: [image, audio]\noracle_samples: 2\n")
        worldgpt("simworld", "generate", "--config", str(cls.tmp / "world.yaml"), "--out", str(cls.tmp / "world"), "--quiet")
        cls.build = ["samples", "build", "--data", str(cls.tmp / "world"), "--kb", str(cls.tmp / "world"), "--limit", "45", *ENCODER]
        worldgpt(*cls.build, "--pack", "10", "--out", str(cls.tmp / "whole"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_per_modality_arrays_read_back_equal_the_source_embeddings(self):
        world = self.tmp / "world"
        train = json.loads((world / "state/action_train.json").read_text())
        kb = json.loads((world / "state/action_kb.json").read_text())
        entries = json.loads((self.tmp / "whole/annotations.json").read_text())
        data = PackedSamples(self.tmp / "whole")
        self.assertEqual(len(data), 45)
        self.assertEqual(data.modalities, ["image", "video", "audio", "text"])
        self.assertEqual(sorted(p.name for p in (self.tmp / "whole/packed").iterdir()),
                         [f"part-0000{k}.{e}" for k in range(5) for e in ("json", "safetensors")])
        checked = 0
        for i in (0, 9, 10, 23, 44):  # first and last of a part, later steps with history, the last sample
            item, entry = data[i], entries[i]
            self.assertEqual(item["index"], i)
            self.assertEqual(item["sample_id"], entry["sample_id"])
            self.assertEqual(item["state0_mask"].tolist(), [True, False, True, False])
            self.assertFalse(item["state0"][1].any() or item["state0"][3].any(), "absent modalities are zero rows")
            for role in ("state0", "state1"):
                for m, modality in enumerate(data.modalities):
                    name = train[i][role][modality]
                    if name:
                        np.testing.assert_array_equal(item[role][m], source_embedding(world, modality, name))
                        checked += 1
            self.assertEqual(len(item["context_state0"]), len(entry["context"]))
            for k, ctx in enumerate(entry["context"][:2]):
                source = kb[int(ctx["sample_id"])]
                np.testing.assert_array_equal(item["context_state1"][k][2], source_embedding(world, "audio", source["state1"]["audio"]))
                checked += 1
            self.assertEqual(len(item["history_state0"]), len(entry["history"]))
            for k, sid in enumerate(entry["history"]):
                np.testing.assert_array_equal(item["history_state0"][k][0], source_embedding(world, "image", train[int(sid)]["state0"]["image"]))
                checked += 1
            # The packed arrays equal the per-sample file's (the other writer of the same sample).
            single, _ = read_safetensors(self.tmp / "whole/tensors" / (entry["tensors"] + ".safetensors"))
            for name in ("state0", "state1", "context_state0", "history_state1"):
                np.testing.assert_array_equal(item[name], single[name + "_modal"], name)
                np.testing.assert_array_equal(item[name + "_mask"], single[name + "_mask"].astype(bool), name)
            np.testing.assert_array_equal(item["action"], single["action"])
            np.testing.assert_array_equal(item["context_scores"], single["context_scores"])
            # The averaged arrays are the mean of the present rows.
            np.testing.assert_allclose(single["state0"], item["state0"][item["state0_mask"]].mean(axis=0), rtol=1e-6, atol=1e-7)
        self.assertGreater(checked, 30)
        with self.assertRaises(IndexError):
            data[45]

    def test_sharded_packed_builds_merge_into_the_unsharded_folder(self):
        parts = []
        for i in (1, 2, 3):
            out = self.tmp / f"shard-{i}"
            worldgpt(*self.build, "--pack", "10", "--no-sample-files", "--shard", f"{i}/3", "--out", str(out))
            parts.append(str(out))
        worldgpt(*self.build, "--pack", "10", "--no-sample-files", "--out", str(self.tmp / "whole-packed"))
        worldgpt("samples", "merge", str(self.tmp / "merged"), *parts)
        expected = {p.relative_to(self.tmp / "whole-packed"): p.read_bytes() for p in (self.tmp / "whole-packed").rglob("*") if p.is_file()}
        got = {p.relative_to(self.tmp / "merged"): p.read_bytes() for p in (self.tmp / "merged").rglob("*") if p.is_file()}
        self.assertEqual(sorted(got), sorted(expected))
        for name, data in expected.items():
            self.assertEqual(got[name], data, str(name))
        self.assertEqual(len(PackedSamples(self.tmp / "merged")), 45)

    def test_a_folder_without_packs_is_refused_with_the_command_to_make_them(self):
        with self.assertRaises(PackedSamplesError) as caught:
            PackedSamples(self.tmp / "world")
        self.assertIn("--pack", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
