"""judge: LM backends, DSPy signatures and programs, the batch runner and the prompt optimizer.

`python -m judge --help` lists the commands.
"""

from judge import offline  # noqa: F401  (sets the offline environment before dspy/litellm are imported)
