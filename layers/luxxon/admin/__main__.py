"""`python -m luxxon.admin`: the admin command line (luxxon.admin.cli)."""

import sys

from luxxon.admin.cli import main

sys.exit(main())
