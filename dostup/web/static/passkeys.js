// Passkeys on the pages (WebAuthn §5.1.3, §5.1.4).  Every passkey form on a page is hidden until
// this script shows it, so without JavaScript the page offers only the methods that work without it.
// A form: data-passkey="get" or "create", data-options="<JSON API URL for the options>",
// optional data-parent (a sign-in waiting for its second step) and data-conditional (offer passkeys in
// the browser's autofill of the username field: conditional mediation).  The script asks for options,
// lets the browser talk to the authenticator, puts the answer into the form and submits it: the server
// checks it and answers with a page, as for any other form.
(function () {
  "use strict";

  function fromB64url(text) {
    var s = text.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeOptions(o, kind) {
    o.challenge = fromB64url(o.challenge);
    if (kind === "create") {
      o.user.id = fromB64url(o.user.id);
      (o.excludeCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    } else {
      (o.allowCredentials || []).forEach(function (c) { c.id = fromB64url(c.id); });
    }
    return o;
  }

  function encode(cred) {
    var r = cred.response, json = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || null,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      json.response.attestationObject = toB64url(r.attestationObject);
      json.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      json.response.authenticatorData = toB64url(r.authenticatorData);
      json.response.signature = toB64url(r.signature);
      json.response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return JSON.stringify(json);
  }

  function options(form) {
    var body = form.dataset.parent ? JSON.stringify({ flow_id: form.dataset.parent }) : "{}";
    return fetch(form.dataset.options, {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "Content-Type": "application/json", "Accept": "application/json" }
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) { throw new Error((data.error && data.error.message) || resp.statusText); }
        return data;
      });
    });
  }

  function fail(form, message) {
    var p = form.querySelector(".passkey-error");
    if (p) { p.textContent = message || form.dataset.failed || ""; p.hidden = false; }
  }

  function ceremony(form, mediation, signal) {
    var kind = form.dataset.passkey;
    return options(form).then(function (started) {
      var publicKey = decodeOptions(started.options, kind), request = { publicKey: publicKey };
      if (signal) { request.signal = signal; }
      if (mediation) { request.mediation = mediation; }
      var call = kind === "create" ? navigator.credentials.create(request) : navigator.credentials.get(request);
      return call.then(function (cred) {
        if (!cred) { throw new Error(""); }
        form.elements.flow.value = started.flow_id;
        form.elements.credential.value = encode(cred);
        var remember = document.querySelector("input[name=remember][type=checkbox]");
        if (remember && form.elements.remember) { form.elements.remember.value = remember.checked ? "on" : ""; }
        form.submit();
      });
    });
  }

  var conditional = null;  // the pending autofill request, aborted before a button starts its own

  function startConditional(form) {
    if (!window.PublicKeyCredential || !PublicKeyCredential.isConditionalMediationAvailable) { return; }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (!ok) { return; }
      conditional = new AbortController();
      ceremony(form, "conditional", conditional.signal).catch(function () { /* aborted or dismissed */ });
    });
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    if (!window.PublicKeyCredential || !navigator.credentials) { return; }
    form.hidden = false;
    var button = form.querySelector("button.passkey-start");
    if (button) {
      button.addEventListener("click", function () {
        if (conditional) { conditional.abort(); conditional = null; }
        button.disabled = true;
        ceremony(form, null, null).catch(function (err) {
          button.disabled = false;
          // the browser's own refusals (NotAllowedError: cancelled, timed out) get the page's words;
          // the server's refusal of the options comes with its localised message
          var browser = err && err.name && err.name !== "Error";
          fail(form, browser ? form.dataset.failed : (err && err.message) || form.dataset.failed);
        });
      });
    }
    if (form.dataset.conditional !== undefined) { startConditional(form); }
  });
})();
