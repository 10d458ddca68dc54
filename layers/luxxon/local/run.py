"""Start the local system: PostgreSQL + PostGIS (found or started), the migrated database, the API gateway.

python -m luxxon.local.run        (the README's `make run`)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from luxxon.local import database, gateway

HOST = os.environ.get("LX_HOST", "127.0.0.1")
PORT = int(os.environ.get("LX_PORT", "8080"))
WORKERS = int(os.environ.get("LX_GATEWAY_WORKERS", "8"))


def main() -> int:
    admin_url = database.server_url(Path.cwd() / ".local")
    database.ensure_postgis(admin_url)
    url = database.create_database(admin_url, database.database_name())
    os.environ["DATABASE_URL"] = url  # the gateway's workers (the "Lambdas") inherit it
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Luxxon")
    server = gateway.serve(HOST, PORT, WORKERS)
    base = f"http://{HOST}:{PORT}/api/v1"
    print(
        f"""
Luxxon is up.
  API          {base}
  OpenAPI      {base}/openapi.json   (docs: {base}/docs)
  Database     {database.with_dbname(url, database.database_name())}

Create a consumer and a supplier (each prints its API key once):
  .venv/bin/python -m luxxon.admin create-workspace --name consumer --roles CONSUMER
  .venv/bin/python -m luxxon.admin create-workspace --name supplier --roles SUPPLIER \\
      --availability ONLINE --coverage 4.71,-74.07,5000

Then, for example:
  curl -s -X POST {base}/sessions -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \\
       -d '{{"lat": 4.71, "lng": -74.07, "maxDurationSeconds": 300}}'
Ctrl-C stops everything.""",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
