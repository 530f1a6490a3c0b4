"""The one-time code method (SECURITY.md: one-time codes; NIST 800-63B §5.1.3 out-of-band).

:mod:`.method` holds the mechanism — a code bound to a persisted flow, issued with its outbox
message in the flow's unit of work after every sending limit, resent after the cool-down, checked
with each try counted atomically, shown as masked destination, expiry and resend-after.  One file
per flow it serves says only what differs there: :mod:`.registration`, :mod:`.contacts`,
:mod:`.contracts`, :mod:`.companies`.
"""
