"""Social sign-in (issue 11): an account at Yandex ID, VK ID, Sber ID or any OpenID Connect
provider as a way into the cabinet — sign in (``login``), register (``registration``), link and
unlink in «Способы входа» (``settings``), re-authenticate (``reauth``).

The protocol is ``dostup.federation``; here are the flows.  A link is a ``credentials`` row
(``type = social``, ``name`` = the provider's id) with its ``provider:subject`` in
``credential_identifiers`` (unique: one provider account opens one cabinet).  A link is made only
by a signed-in user or at the end of a registration through the provider — never because an email
or a phone matches (SECURITY.md: OpenID Connect as client).
"""
