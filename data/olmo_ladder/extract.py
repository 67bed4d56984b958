"""Rebuild ``ladder_runs.csv`` from the OLMo-ladder W&B exports (allenai/OLMo-ladder @67a3f44,
``src/scripts/paper/data/ladder-runs``, Apache-2.0).

Keeps only what the task-ladder example needs: the runs ``configs/final.json`` fits on
(190M-1.3B x 1, 2, 5, 10 x Chinchilla), the 3B rung (for the loss-to-loss backtest), the two
targets (7B-4T anneal, 13B-5T final), and the columns: tokens, the eleven validation losses, and
bits-per-byte and accuracy of the eight tasks of the paper. Values are rounded to 7 significant
digits.

    python data/olmo_ladder/extract.py PATH/TO/ladder-runs
"""

import sys
from pathlib import Path

import pandas as pd

RUNS = {  # file stem -> (run name, rung)
    **{f"{s}-{m}": (f"{s}-{m}", s) for s in ("190M", "370M", "760M", "1B", "3B")
       for m in ("1xC", "2xC", "5xC", "10xC")},
    "peteish7_eval_anneal": ("7B-4T", "7B"),
    "peteish13_eval_final": ("13B-5T", "13B"),
}
VAL = ["c4_en", "dolma_books", "dolma_common-crawl", "dolma_pes2o", "dolma_reddit",
       "dolma_stack", "dolma_wiki", "ice", "m2d2_s2orc", "pile", "wikitext_103"]
TASKS = ["mmlu_stem_test", "mmlu_humanities_test", "mmlu_social_sciences_test", "mmlu_other_test",
         "hellaswag_val", "arc_challenge_test", "arc_easy_test", "piqa_val", "csqa_val",
         "socialiqa_val", "openbookqa_test"]


def main(src: Path, out: Path) -> None:
    frames = []
    for stem, (run, rung) in RUNS.items():
        d = pd.read_csv(src / f"{stem}.csv")
        if "throughput/total_tokens" in d:
            tokens = d["throughput/total_tokens"].astype("int64")
        else:  # the 13B export has no token counter: step x batch size
            tokens = (d["_step"] * d["batch_size_in_tokens"]).astype("int64")
        f = pd.DataFrame({"run": run, "rung": rung,
                          "step": d["_step"] if "_step" in d else tokens // d["batch_size_in_tokens"],
                          "tokens": tokens})
        for v in VAL:
            f[f"val/{v}"] = d[f"eval/{v}-validation/CrossEntropyLoss"]
        for t in TASKS:
            f[f"bpb/{t}"] = d[f"eval/downstream_bpb/{t}_rc_5shot_bpb"]
            f[f"acc/{t}"] = d[f"eval/downstream/{t}_rc_5shot_len_norm"]
        frames.append(f)
    df = pd.concat(frames, ignore_index=True)
    num = df.columns[4:]
    df[num] = df[num].map(lambda x: float(f"{x:.7g}"))
    df.to_csv(out, index=False)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).with_name("ladder_runs.csv"))
