"""Graph backbones (:mod:`recsys.models.lightgcn`, :mod:`recsys.models.ngcf`, built by name in
:mod:`recsys.models.backbones`). Each exposes ``user_item_embeddings(adj)`` and ``ego_embeddings(users, items)``.
Import them from their modules: this package imports nothing, so that importing
:mod:`recsys.models.graph` does not load torch_geometric."""
