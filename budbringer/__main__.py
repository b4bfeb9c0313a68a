"""`python -m budbringer`: the `budbringer` command."""

from budbringer.cli import main

raise SystemExit(main())
