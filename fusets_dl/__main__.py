"""``python -m fusets_dl`` runs the command-line interface."""

from .cli import main

raise SystemExit(main())
