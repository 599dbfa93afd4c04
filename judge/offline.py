"""Offline by default: imported (by :mod:`judge`) before dspy or litellm load, so that neither fetches
model metadata or hub files from the network. A user's own environment settings win."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
