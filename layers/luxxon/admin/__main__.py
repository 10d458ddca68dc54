"""`python -m luxxon.admin`: the admin CLI (luxxon.admin)."""

import sys

from luxxon.admin import main

sys.exit(main())
