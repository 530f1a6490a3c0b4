"""HTTP glue of the OpenID Connect provider: discovery, ``/oauth2/*``, consent and «Приложения с доступом»."""
