"""The frame decoder service (ECS Fargate; the same code runs in the local system).

`python -m decoder_container` starts the supervisor (supervisor.py), which runs one worker process per CPU
(worker.py). Workers claim sessions that need a decoder through leases in PostgreSQL and, per session, subscribe
over WHEP, decode every frame and store the latest as a JPEG about once a second (session.py). Settings:
config.py (LX_DECODER_*). The code it shares with the API (sessions, leases, frame store) is the `luxxon` package.
"""
