"""Fine-tuning causal language models with LoRA, QLoRA or full training, on the studio's event stream.

data.py reads and checks data files (example sets and uploads; paths only from the command line);
limits.py holds the operator's bounds; format.py turns rows into labelled tokens; lora.py checks and
loads the base through the loader and attaches what is trained; trainer.py runs one stage with the
Trainer; curriculum.py plans and runs a whole run stage by stage; runs.py owns the run folders;
tasks.py is what a worker process runs for the tab; session.py runs the same tasks for the command line.
"""
