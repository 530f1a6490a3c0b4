// The browser's time zone for the pages' times («Код действует до …»): a cookie the server reads
// (dostup/web/ui/render.py); without JavaScript the configured default (DOSTUP_TIME_ZONE) is shown.
(function () {
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + zone) === -1) {
      document.cookie = "tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* an old browser: the default zone stays */ }
})();
