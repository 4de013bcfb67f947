"""Regenerate the bundled sample scene in data/sample (run: python data/make_sample.py)."""

from __future__ import annotations

import logging
from pathlib import Path

from fusets_dl.sample import write_sample

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_sample(Path(__file__).resolve().parent / "sample")
