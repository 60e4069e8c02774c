"""``python -m sksoftmax``: the main job, see ``sksoftmax._cli``."""

from sksoftmax._cli import main

raise SystemExit(main())
