"""Build a stand-in candidate pool for ``python -m personalization.bench simulated`` from HH answers.

Same format as the project pool (a header line, then one line per "prompt" with 8 scored, embedded answers):
HH answers of the dev file, MiniLM-embedded (through the on-disk cache) and axis-scored, grouped 8 at random.
Only for when the real pool (webapp/catalog/demo/pool.jsonl.gz) is not available.

    .venv/bin/python benchmarks/hh_standin_pool.py --data /work/shared/data/hh_relabeled_dev.jsonl.gz --out OUT
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization.bench.hh_data import encoder_factory_for, pairs_featurize, rows_read


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--answers", type=int, default=1600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = rows_read(args.data)
    name, factory = encoder_factory_for("minilm")
    pairs = pairs_featurize(rows, name, factory)
    items = []
    for i, row in enumerate(rows):
        responses = row["responses"]
        assert isinstance(responses, list)
        for side, (emb, axes) in enumerate([(pairs.emb_first[i], pairs.axes_first[i]),
                                            (pairs.emb_second[i], pairs.axes_second[i])]):
            items.append({"style": "hh", "text": str(responses[side]), "axis_scores": axes.tolist(),
                          "embedding": base64.b64encode(emb.numpy().astype("float32").tobytes()).decode()})
    random.Random(args.seed).shuffle(items)
    items = items[: args.answers]
    with gzip.open(args.out, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"header": {"format": 1, "note": "stand-in pool of HH answers"}}) + "\n")
        for start in range(0, len(items), 8):
            handle.write(json.dumps({"domain": "hh", "text": f"group {start // 8}",
                                     "responses": items[start : start + 8]}) + "\n")


if __name__ == "__main__":
    main()
