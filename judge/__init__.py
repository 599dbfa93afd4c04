"""judge: LM backends, DSPy signatures and programs, the batch runner and the prompt optimizer.

`python -m judge --help` lists the commands; the prompt optimizer comes with its own issue.
"""

import os

# Before dspy/litellm are imported: never fetch model metadata or hub files from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
