"""Policy simulation (测算, domain.md section 9): a period of claims replayed under draft product
versions with the production coordination engine, reported beside what happened.

``drafts`` (draft products) · ``replay`` (pure: a member's claims re-coordinated in production's
order) · ``history`` (the period read in bulk, streamed per member; read-only) · ``report`` and
``gap`` (pure aggregates; the gap with small cells suppressed) · ``run`` (the use case: stored in
``simulations``, audited) · ``city`` (a generated city through the production path) ·
``console`` (``ltc-gateway simulate``).
"""
