"""The saved DSPy programs (JSON) the judge loads by name; shipped as package data and located through
``importlib.resources`` (:data:`judge.config.PROMPTS_DIR`), so an installed wheel finds them too."""
