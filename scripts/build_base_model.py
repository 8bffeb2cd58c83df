#!/usr/bin/env python
"""Install step: build the base encoder, and with --with-default-model the default classifier.

    python scripts/build_base_model.py                       # models/base/multilingual-e5-small
    python scripts/build_base_model.py --with-default-model  # ... train the head if no production
                                                             # model, then build + check its ONNX int8
                                                             # model (what scoring runs by default)
    python scripts/build_base_model.py --with-default-model --without-int8  # ... skip the int8 build
                                                             # (scoring then runs torch fp32)
    python scripts/build_base_model.py --force               # rebuild the encoder even if verified

Idempotent: a verified encoder build of the same source is kept, a registry that already has a
production version is left alone, and a checked int8 build of the current format is kept (about a
minute of CPU and 7 GB of memory at its peak to build; an older format is rebuilt). Same as
`saqshy model build-base`, `saqshy train` and `saqshy model quantize`. Without onnxruntime, or when
the int8 model misses its ROC-AUC check, scoring runs torch fp32.
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
            if "--without-int8" not in argv:
                # The production default scores on this int8 model (2x less CPU than torch fp32);
                # a failed build must not fail the install: scoring then runs torch fp32.
                from classifier.onnx_int8 import build_version

                try:
                    build_version(settings, progress=print)
                except Exception as exc:  # export/quantiser failures of any kind
                    print(f"warning: int8 model not built ({type(exc).__name__}: {exc}); scoring runs torch fp32")
    except ClassifierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
