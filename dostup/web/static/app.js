// Every page: the «Меню» button of the narrow header, the phone field's «+7 909 000-00-00» format while typing,
// and the code pages' count-downs.  Each part only improves a page that already works without JavaScript.
"use strict";

(function () {
  // -- the navigation menu ------------------------------------------------------------------------------------
  // Without this script the button stays hidden (app.css shows it only under header.js-menu) and the list wraps.
  function menu() {
    var header = document.querySelector("header.top");
    var toggle = header && header.querySelector(".menu-toggle");
    var nav = toggle && document.getElementById(toggle.getAttribute("aria-controls"));
    if (!nav) return;
    header.classList.add("js-menu");
    function set(open) { toggle.setAttribute("aria-expanded", open ? "true" : "false"); }
    toggle.addEventListener("click", function () { set(toggle.getAttribute("aria-expanded") !== "true"); });
    header.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
        set(false);
        toggle.focus();
      }
    });
  }

  // -- the phone number ---------------------------------------------------------------------------------------
  // For the +7 countries (Russia, Kazakhstan) the digits are shown as «+7 909 000-00-00» while typed or pasted;
  // a leading 8 or 7 is the trunk prefix.  Other countries' numbers are left as typed; the server reads any form.
  function groupRu(d) {
    var out = "+7";
    if (d.length > 0) out += " " + d.slice(0, 3);
    if (d.length > 3) out += " " + d.slice(3, 6);
    if (d.length > 6) out += "-" + d.slice(6, 8);
    if (d.length > 8) out += "-" + d.slice(8, 10);
    return out;
  }

  // The national digits of ``raw`` and how many leading digits were a prefix ("+7", or a trunk 8/7), or null
  // when ``raw`` is another country's number or too long (left as typed: the server says what is wrong).
  function national(raw) {
    var trimmed = raw.replace(/^\s+/, "");
    var digits = trimmed.replace(/\D/g, "");
    var prefix = 0;
    if (trimmed.charAt(0) === "+") {
      if (digits.charAt(0) !== "7") return null;  // "+" alone, or another country's code
      prefix = 1;
    } else if (/^[78]/.test(digits) && digits.length !== 10) {
      prefix = 1;  // 8 912 …, 7 912 …; ten digits pasted at once are the national number itself
    }
    digits = digits.slice(prefix);
    return digits.length > 10 ? null : { digits: digits, prefix: prefix };
  }

  function phone(input) {
    var form = input.form;
    var country = form && form.querySelector("select[name=country]");
    function dial() {
      var option = country && country.options[country.selectedIndex];
      return option ? option.getAttribute("data-dial") : "7";
    }
    function apply(event) {
      if (event && event.inputType && event.inputType.indexOf("delete") === 0) return;  // let a deletion stand
      var value = input.value;
      if (dial() !== "7" || !value.replace(/\s/g, "")) return;
      var parsed = national(value);
      if (!parsed) return;
      var formatted = parsed.digits.length ? groupRu(parsed.digits) : "+7";
      if (formatted === value) return;
      var caret = input.selectionStart === null ? value.length : input.selectionStart;
      var position = formatted.length;
      if (caret < value.length) {  // typed in the middle: keep the caret after the same national digit
        var before = Math.max(0, value.slice(0, caret).replace(/\D/g, "").length - parsed.prefix);
        for (var i = 2, seen = 0; i < formatted.length && seen < before; i++) {
          if (/\d/.test(formatted.charAt(i))) { seen++; position = i + 1; }
        }
        if (before === 0) position = Math.min(3, formatted.length);
      }
      input.value = formatted;
      if (document.activeElement === input) input.setSelectionRange(position, position);
    }
    input.addEventListener("input", apply);
    if (country) country.addEventListener("change", function () { apply(null); });
    if (input.value) apply(null);
  }

  // -- the code timers ----------------------------------------------------------------------------------------
  // A ``role="timer"`` counts its data-seconds down each second; at zero its final words go to the page's polite
  // live region (.code-live) so a screen reader hears them once, not every tick.
  function timer(element, live) {
    var left = parseInt(element.getAttribute("data-seconds"), 10);
    if (!(left >= 0)) return;
    var template = element.getAttribute("data-template");
    var done = element.getAttribute("data-ready") || element.getAttribute("data-expired");
    var started = Date.now(), total = left;
    function tick() {
      left = Math.max(0, total - Math.floor((Date.now() - started) / 1000));
      if (left > 0) {
        if (template) element.textContent = template.replace("{s}", String(left));
        return;
      }
      clearInterval(id);
      element.textContent = done;
      if (live) live.textContent = done;
    }
    var id = setInterval(tick, 1000);
    tick();
  }

  function start() {
    menu();
    Array.prototype.forEach.call(document.querySelectorAll("input[data-phone]"), phone);
    var live = document.querySelector(".code-live");
    Array.prototype.forEach.call(document.querySelectorAll("[role=timer][data-seconds]"), function (el) {
      timer(el, live);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
