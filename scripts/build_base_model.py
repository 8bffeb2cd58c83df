#!/usr/bin/env python
"""Install step: build the base encoder, and with --with-default-model the default classifier.

    python scripts/build_base_model.py                       # models/base/multilingual-e5-small
    python scripts/build_base_model.py --with-default-model  # ... train the head if no production model
    python scripts/build_base_model.py --with-default-model --with-int8  # ... and build + check its
                                                             # optional ONNX int8 model
    python scripts/build_base_model.py --force               # rebuild the encoder even if verified

Idempotent: a verified encoder build of the same source is kept, a registry that already has a
production version is left alone, and a checked int8 build is kept. Same as `saqshy model build-base`,
`saqshy train` and `saqshy model quantize`. Without onnxruntime the int8 step is skipped (torch fp32).
"""

from __future__ import annotations

import sys

from classifier.errors import ClassifierError
from saqshy.settings import get_settings


def main(argv: list[str]) -> int:
    from classifier.convert import ensure_base_model
    from classifier.registry import Registry

    settings = get_settings()
    try:
        ensure_base_model(settings.models_dir, force="--force" in argv, threads=settings.torch_threads)
        if "--with-default-model" in argv:
            production = Registry(settings.models_dir).production()
            if production:
                print(f"default model: production version {production} already present")
            else:
                from classifier.data import DEFAULT_SEED_DIR
                from classifier.taxonomy import load_taxonomy
                from classifier.train import train

                train(settings, load_taxonomy(), [DEFAULT_SEED_DIR])
            if "--with-int8" in argv:
                # Opt-in: scoring runs torch fp32 by default, and the int8 build costs a minute or
                # more at every fresh install (``saqshy model quantize`` builds it later).
                from classifier.onnx_int8 import build_version

                build_version(settings, progress=print)
    except ClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
