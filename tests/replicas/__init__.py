"""Tiny random-weight replicas of the real model families users load (see ../shared/REPLICAS.md).

Each modality has its own builder module here (`text.py`, `image.py`, `audio.py`); all of
them lay a replica out twice: as a `save_pretrained` folder, and inside an offline Hugging
Face cache under the family's real hub id (`hub_cache.place`), so that both the local-folder
path and the hub-id path run with `HF_HUB_OFFLINE=1`.
"""
