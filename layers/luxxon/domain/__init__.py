"""Domain logic: state machine, meter, pricing, identity. Imports neither psycopg nor boto3."""
