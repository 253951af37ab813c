"""The training core: one loop for pretraining and finetuning (loop.py), precision, schedules, optimizers,
distributed set-up, signals and metric logs."""
