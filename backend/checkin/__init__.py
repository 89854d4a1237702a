"""The check-in: ``POST /api/v1/checkins`` from the request to the committed record.

Read in this order: ``endpoint`` (the ASGI app served ahead of the middleware, ``fastpath``),
``flow`` (token or pending, the parties, the record's values), ``reads`` (the ``HotPath``:
cached and batched reads, the signatures through ``verifier``, the owner's fingerprint through
``userverification``), ``records`` (the group-commit writer, ``batcher``), ``planner`` (what
one batch writes, the same on every database) and ``sqlite`` / ``postgres`` (each database's
statements behind the planner's ``Dialect``).

Nothing is imported here: ``python -m backend.checkin.verifier`` must load no database code.
"""
