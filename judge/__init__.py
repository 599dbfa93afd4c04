"""judge: LM backends, DSPy signatures and programs, the batch runner and the prompt optimizer.

The LLM judge lands with its own issue; the package exists so the layout shows the pipeline.
"""
