"""End-to-end finetuning of a language model and a classifier head (finetune_classifier.py), after Kant et
al. 2018, "Practical Text Classification With Large Pre-Trained Language Models" (arXiv 1812.01207): the
library of drivers/finetune.py, the run behind finetune_classifier.py.

- outputs.py         what the labels ask for: binary, multi-class (softmax) or multi-label outputs, checked
- classifier_task.py the task training/loop.py trains: the splits' tokens, each epoch's batch order, each
                     rank's rows, the loss of a batch, the validation at an epoch's end, the checkpoints
- losses.py          BCE / softmax cross-entropy with class weights and heads per class, head variance,
                     the auxiliary LM loss over each text's real tokens
- validation.py      probabilities over a split (all ranks together), tuned thresholds, the metrics, the
                     per-epoch line
- checkpoints.py     the files of a run from --save and the resume checkpoint it continues from
- reports.py         the final report (text and JSON), plots, the summary
"""
