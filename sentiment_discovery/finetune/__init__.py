"""End-to-end finetuning of a language model and a classifier head (finetune_classifier.py), after Kant et
al. 2018, "Practical Text Classification With Large Pre-Trained Language Models" (arXiv 1812.01207): the
library of drivers/finetune.py (the run behind finetune_classifier.py) and drivers/threshold.py (threshold.py).

- tasks.py        what the labels ask for: binary, multi-class (softmax) or multi-label outputs, checked
- losses.py       BCE / softmax cross-entropy with class weights and heads per class, head variance,
                  the auxiliary LM loss over each text's real tokens
- batching.py     token lists, the epoch's batch order and each rank's rows of a global batch
- thresholding.py automatic thresholds (per class, second pass, global tweaks, dual)
- evaluation.py   probabilities over a split (all ranks together) and the metrics of one evaluation
- trainer.py      `FinetuneTrainer`: one rank's model, optimizer, precision, schedule and step
- checkpoints.py  the classifier checkpoint (architecture.md's keys) and the exact-resume checkpoint
- reports.py      the per-epoch JSON line, the final report (text and JSON), plots, the summary
"""
