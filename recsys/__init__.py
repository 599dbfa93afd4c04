"""recsys: data, store, backbones, sampling, training and evaluation for LLM-denoised recommenders."""

__version__ = "0.1.0"
