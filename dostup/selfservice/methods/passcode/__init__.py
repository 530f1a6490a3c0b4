"""The quick passcode («Код для входа», five digits) on a bound device (``dostup.credentials.devices``)."""
