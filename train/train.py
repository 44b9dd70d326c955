#!/usr/bin/env python
"""Train an mde-hub model with transformers' Trainer.

    python train/train.py --recipe train/recipes/baseline_synthetic.json --output_dir runs/baseline
    python train/train.py --recipe train/recipes/bts_nyu.json --dataset_path nyu_data.zip --output_dir runs/bts
    torchrun --nproc_per_node 2 train/train.py --recipe ... (DDP)

Every flag of ModelArguments, DataArguments and DepthTrainingArguments (mde_hub.training.arguments, plus
transformers' TrainingArguments) is accepted; flags override the recipe's values. `--help` lists them.
"""

import sys

from mde_hub.training import main

if __name__ == "__main__":
    sys.exit(main())
