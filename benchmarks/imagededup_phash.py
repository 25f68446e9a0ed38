"""imagededup's PHash over a folder: encode every image, then find duplicates.

Runs inside benchmarks/.venv-imagededup (imagededup installed with --no-deps,
plus numpy, scipy, PyWavelets, Pillow, tqdm, scikit-learn and matplotlib,
which its modules import; never torch). The CNN method and the model helpers
are the only modules that import torch, so they are replaced by empty stubs
before importing the hashing methods.

    python imagededup_phash.py FOLDER --workers 2

Prints one JSON line: encode and find times (seconds), images hashed, duplicates found.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import types

TORCH_MODULES = {
    "imagededup.methods.cnn": ["CNN"],
    "imagededup.utils.models": ["CustomModel", "MobilenetV3", "DEFAULT_MODEL_NAME"],
}


def import_phash():
    for name, attributes in TORCH_MODULES.items():
        stub = types.ModuleType(name)
        for attribute in attributes:
            setattr(stub, attribute, None)
        sys.modules[name] = stub
    from imagededup.methods import PHash

    return PHash


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=int, default=10, help="max Hamming distance")
    args = parser.parse_args()
    phash_class = import_phash()
    logging.disable(logging.WARNING)
    phasher = phash_class(verbose=False)
    started = time.perf_counter()
    encodings = phasher.encode_images(image_dir=args.folder, recursive=True,
                                      num_enc_workers=args.workers)
    encoded = time.perf_counter()
    duplicates = phasher.find_duplicates(encoding_map=encodings,
                                         max_distance_threshold=args.threshold,
                                         num_dist_workers=args.workers)
    found = time.perf_counter()
    print(json.dumps({
        "encode_seconds": encoded - started,
        "find_seconds": found - encoded,
        "images": len(encodings),
        "with_duplicates": sum(1 for v in duplicates.values() if v),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
