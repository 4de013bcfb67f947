"""Settings shared by the segmentation tests."""

from __future__ import annotations

FAST = {"epochs": 12, "warmup": 4, "max_pixels": 3000, "batch_size": 128, "hidden": (64,), "embed": 16, "n_bins": 24}
