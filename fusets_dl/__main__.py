"""``python -m fusets_dl`` runs the command-line interface."""

from .cli.core import main

raise SystemExit(main())
