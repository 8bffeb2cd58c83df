"""Saqshy's classifier: a multilingual encoder that scores per-category probabilities of illegality.

Light modules (``taxonomy``, ``errors``, ``normalize``) import no torch, so the store and the API can
use them to validate category names; heavy ones (``loading``, ``engine``, ``train``) import torch.
"""
