"""judge: LM backends, DSPy signatures and programs, the batch runner and the prompt optimizer.

Signatures and programs are here; the LM backends, the batch runner and the optimizer come with
their issues.
"""

import os

# Before dspy/litellm are imported: never fetch model metadata or hub files from the network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
