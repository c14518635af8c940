/* Behaviour every page shares, kept out of the markup: the Content-Security-Policy runs
 * no inline script (web/headers.py).
 *   form[data-confirm]     asks before submitting (the attribute is the question)
 *   select[data-autosubmit] submits its form when changed
 *   a[data-back]           goes back in history (its href is where to go without one)
 *   button[data-print]     prints the page (activation-code slips)
 *   form[data-forget-paycodes] removes the payment-code secrets from this browser
 *                          (signing out, signing out everywhere)
 *   [data-print]           prints the page (the till's shift report)
 * (The till's own behaviour is in till.js.)
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      e.preventDefault();
      return;
    }
    if (form.hasAttribute("data-forget-paycodes")) forgetPaycodes();
  }, true);

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el instanceof HTMLSelectElement && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.submit();
    }
  });

  document.addEventListener("click", function (e) {
    if (e.target instanceof Element && e.target.closest("button[data-print]")) {
      window.print();
      return;
    }
    var link = e.target instanceof Element ? e.target.closest("a[data-back]") : null;
    if (link && window.history.length > 1) {
      e.preventDefault();
      window.history.back();
    }
  });

  function forgetPaycodes() {
    try {
      Object.keys(localStorage).forEach(function (k) {
        if (k.indexOf("onecard.paycode.") === 0) localStorage.removeItem(k);
      });
    } catch (err) { /* storage unavailable: nothing kept */ }
  }

  // A printable page's "print" button (the shift report).
  document.addEventListener("click", function (e) {
    var btn = e.target instanceof Element ? e.target.closest("[data-print]") : null;
    if (btn) {
      e.preventDefault();
      window.print();
    }
  });
})();
