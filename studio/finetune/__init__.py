"""Fine-tuning causal language models with LoRA, QLoRA or full training, on the studio's event stream.

data.py reads and checks data files; format.py turns rows into labelled tokens;
lora.py loads the base and attaches what is trained; trainer.py runs one stage
with the Trainer; curriculum.py runs a whole run stage by stage; runs.py owns
the run folders; session.py starts runs for the tab and the command line.
"""
