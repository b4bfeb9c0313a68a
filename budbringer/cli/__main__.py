"""`python -m budbringer.cli`: the `budbringer` command."""

from budbringer.cli import main

raise SystemExit(main())
