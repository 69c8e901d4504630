"""`python -m pyengine.cli`: the command line without the installed `pyengine` script (the tests run it so)."""

from . import main

raise SystemExit(main())
