"""Graph backbones. Each exposes ``user_item_embeddings(adj)`` and ``ego_embeddings(users, items)``."""

from recsys.models.backbones import BACKBONES, build_backbone
from recsys.models.lightgcn import LightGCN
from recsys.models.ngcf import NGCF

__all__ = ["BACKBONES", "LightGCN", "NGCF", "build_backbone"]
